//! `Reader`: a registered QSBR reader (`hvrt_reader_*`), unregistered on drop.

use crate::error::{Error, Result};
use crate::owner::VmOwner;
use crate::sys;
use crate::translation::Translation;
use crate::vm::Vm;

/// A registered reader of a VM (hvrt.h "Registered readers"): translates without a read
/// section, in exchange for reporting quiescent states. Created online.
///
/// What an online reader obtained (host addresses, private fds, [`sys::hvrt_slot_entry`]
/// references) stays valid until its next `quiescent`, `offline` or drop. Those take
/// `&mut self`, so entries borrowed from [`Reader::lookup_inline`] cannot outlive them.
///
/// Rules hvrt.h sets that the types cannot check: an online reader that never quiesces blocks
/// every slot change forever, and so does a thread that changes slots while its own reader is
/// online (it waits for itself): take the reader offline first.
///
/// `Send` (a reader may move between threads with a hand-off that orders memory, which moving
/// a Rust value provides) but not `Sync` (one thread at a time: the last-hit cache is written
/// without atomics).
pub struct Reader<V: VmOwner> {
    raw: *mut sys::hvrt_reader,
    online: bool,
    vm: V,
}

// SAFETY: hvrt allows a reader to move between threads with a hand-off that orders memory;
// moving the value to another thread (spawn, channel, mutex) is such a hand-off. The owner V
// moves with it, so it must be Send itself. The raw pointer keeps Reader !Sync.
unsafe impl<V: VmOwner + Send> Send for Reader<V> {}

impl Vm {
    /// Registers a reader borrowing this VM (`hvrt_reader_register`), online.
    /// Errors: `ENOMEM`, `EINTERNAL`.
    pub fn reader(&self) -> Result<Reader<&Vm>> {
        Reader::new(self)
    }
}

impl<V: VmOwner> Reader<V> {
    /// Registers a reader of the VM `vm` owns or borrows (`&Vm`, `Arc<Vm>`, `Rc<Vm>`), online.
    pub fn new(vm: V) -> Result<Reader<V>> {
        let mut raw = core::ptr::null_mut();
        // SAFETY: live VM (vm keeps it alive); raw is a valid out-pointer.
        Error::check0(unsafe { sys::hvrt_reader_register(vm.raw, &mut raw) })?;
        Ok(Reader { raw, online: true, vm })
    }

    /// The VM.
    pub fn vm(&self) -> &Vm {
        &self.vm
    }

    /// The raw handle (for calls this crate does not wrap; do not unregister it).
    pub fn as_ptr(&self) -> *mut sys::hvrt_reader {
        self.raw
    }

    /// Whether the reader is online (it may translate).
    pub fn is_online(&self) -> bool {
        self.online
    }

    /// Reports a quiescent state: nothing obtained before is used any more. Stays online.
    /// Errors: `EPERM` the reader is offline.
    pub fn quiescent(&mut self) -> Result<()> {
        // SAFETY: registered reader, used by this thread only (&mut self).
        Error::check0(unsafe { sys::hvrt_reader_quiescent(self.raw) })
    }

    /// Takes the reader offline (slot changes stop waiting for it). Already offline: no-op.
    pub fn offline(&mut self) -> Result<()> {
        // SAFETY: as quiescent.
        Error::check0(unsafe { sys::hvrt_reader_offline(self.raw) })?;
        self.online = false;
        Ok(())
    }

    /// Brings the reader online. Already online: a quiescent state.
    pub fn online(&mut self) -> Result<()> {
        // SAFETY: as quiescent.
        Error::check0(unsafe { sys::hvrt_reader_online(self.raw) })?;
        self.online = true;
        Ok(())
    }

    /// `hvrt_reader_translate`: the answer of `Vm::translate`, without a read section.
    /// Errors: `EINVAL` as_id out of range; `EPERM` offline; `ENOENT` gfn in no slot.
    pub fn translate(&self, as_id: u32, gfn: u64) -> Result<Translation> {
        let mut t = Translation::default();
        // SAFETY: registered reader; !Sync, so no other thread uses it now; t is valid.
        Error::check0(unsafe { sys::hvrt_reader_translate(self.raw, as_id, gfn, &mut t.0) })?;
        Ok(t)
    }

    /// `hvrt_reader_translate_batch`: `Vm::translate_batch` for an online reader; returns the
    /// number of hits. Errors: `EINVAL` `out.len() != gfns.len()` or as_id out of range;
    /// `EPERM` offline.
    pub fn translate_batch(&self, as_id: u32, gfns: &[u64], out: &mut [Translation]) -> Result<usize> {
        if out.len() != gfns.len() {
            return Err(Error::EINVAL);
        }
        // SAFETY: registered reader; both slices hold gfns.len() elements; Translation is
        // repr(transparent) over hvrt_translation.
        let rc = unsafe {
            sys::hvrt_reader_translate_batch(self.raw, as_id, gfns.as_ptr(), gfns.len(), out.as_mut_ptr().cast())
        };
        Error::check(rc).map(|n| n as usize)
    }
}

impl<V: VmOwner> Drop for Reader<V> {
    fn drop(&mut self) {
        // SAFETY: registered reader; unregistered before the owner V (a field, dropped after
        // this) can release the VM. The only possible error is EBADF for a reader that is not
        // registered, which cannot happen here; nothing to do about it in a destructor.
        let _ = unsafe { sys::hvrt_reader_unregister(self.raw) };
    }
}

impl<V: VmOwner> std::fmt::Debug for Reader<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader").field("raw", &self.raw).field("online", &self.online).finish()
    }
}
