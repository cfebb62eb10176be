//! `Vm`: an hvrt VM (RAII: `hvrt_vm_destroy` on drop) and its configuration.

use crate::error::{Error, Result};
use crate::sys;
use crate::translation::Translation;
use std::collections::HashMap;
use std::sync::Mutex;

/// Configuration of a VM (`struct hvrt_vm_config`): which KVM VM type's rules apply and the host
/// limits. Zero in a field means "as KVM on this host"; `VmConfig::default()` is a default x86
/// KVM VM.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VmConfig {
    /// `HVRT_VM_TYPE_*` (`sys::HVRT_VM_TYPE_DEFAULT` ...).
    pub vm_type: u32,
    /// 0: the type's number of address spaces.
    pub nr_address_spaces: u32,
    /// 0: 32764 slots per address space.
    pub max_user_slots: u32,
    /// 0: this host's MAXPHYADDR; else 13..=64.
    pub max_gpa_bits: u32,
    /// 0: this host's TASK_SIZE_MAX.
    pub user_addr_limit: u64,
    /// `HVRT_KVM_PROFILE_*`: whose KVM rules apply; 0 this host's KVM (probed once per type;
    /// the newest profile where there is no /dev/kvm).
    pub kvm_profile: u32,
}

impl VmConfig {
    /// A config of the given `HVRT_VM_TYPE_*`, other fields as KVM.
    pub fn of_type(vm_type: u32) -> VmConfig {
        VmConfig { vm_type, ..VmConfig::default() }
    }
    /// Sets the number of address spaces.
    pub fn nr_address_spaces(mut self, n: u32) -> VmConfig {
        self.nr_address_spaces = n;
        self
    }
    /// Sets the slot limit per address space.
    pub fn max_user_slots(mut self, n: u32) -> VmConfig {
        self.max_user_slots = n;
        self
    }
    /// Sets the guest-physical address width.
    pub fn max_gpa_bits(mut self, bits: u32) -> VmConfig {
        self.max_gpa_bits = bits;
        self
    }
    /// Sets the host user-address limit.
    pub fn user_addr_limit(mut self, limit: u64) -> VmConfig {
        self.user_addr_limit = limit;
        self
    }
    /// Sets the kernel profile (`HVRT_KVM_PROFILE_*`; 0: this host's KVM).
    pub fn kvm_profile(mut self, profile: u32) -> VmConfig {
        self.kvm_profile = profile;
        self
    }
    /// The C struct, with `size` set.
    pub fn to_raw(&self) -> sys::hvrt_vm_config {
        sys::hvrt_vm_config {
            size: core::mem::size_of::<sys::hvrt_vm_config>() as u32,
            vm_type: self.vm_type,
            nr_address_spaces: self.nr_address_spaces,
            max_user_slots: self.max_user_slots,
            max_gpa_bits: self.max_gpa_bits,
            flags: 0,
            user_addr_limit: self.user_addr_limit,
            kvm_profile: self.kvm_profile,
            reserved32: 0,
            reserved: [0; 3],
        }
    }
}

/// The kernel profile of a VM or of a profile number on this host (`struct hvrt_kvm_profile`).
pub type KvmProfile = sys::hvrt_kvm_profile;

/// What `kvm_profile` = `profile` resolves to on this host for a VM of `vm_type`
/// (`hvrt_kvm_profile_query`; 0 probes /dev/kvm once per type). Errors: `EINVAL` an unknown
/// profile or `vm_type` >= 32; the probe's errno.
pub fn kvm_profile_query(profile: u32, vm_type: u32) -> Result<KvmProfile> {
    let mut p = KvmProfile { size: core::mem::size_of::<KvmProfile>() as u32, ..Default::default() };
    // SAFETY: p is a valid struct of the size it declares.
    Error::check0(unsafe { sys::hvrt_kvm_profile_query(profile, vm_type, &mut p) })?;
    Ok(p)
}

/// An hvrt VM: slots with KVM's rules, translations from any thread, attributes, conversions,
/// dirty logging and the KVM binding. Destroyed on drop.
///
/// `Vm` is `Send + Sync`: every hvrt call on a VM is thread-safe except destroy, which only
/// `Drop` runs (when no borrow is left, so no other call can run concurrently). `Reader`s and
/// `Vcpu`s borrow or own the `Vm` (see [`VmOwner`](crate::VmOwner)), so the VM outlives them,
/// as hvrt.h requires.
pub struct Vm {
    pub(crate) raw: *mut sys::hvrt_vm,
    /// npages of every slot (key: as_id << 16 | id), kept by the slot calls of this wrapper. It
    /// gives the dirty-log calls the size of the caller's bitmap; its lock is held across each
    /// slot change and dirty-log harvest so the size cannot change in between (hvrt serializes
    /// both under its own VM lock anyway, so this costs no parallelism).
    pub(crate) slots: Mutex<HashMap<u32, u64>>,
}

// SAFETY: hvrt's calls on a VM may come from any thread (hvrt.h "Threading"); the raw pointer is
// an opaque handle. Destroy runs only in Drop, with no borrow left.
unsafe impl Send for Vm {}
// SAFETY: as above: all &self methods are calls hvrt allows concurrently.
unsafe impl Sync for Vm {}

impl Vm {
    /// Creates a VM with no slots (`hvrt_vm_create`).
    /// Errors: `EINVAL` a field out of range; `ENOMEM`.
    pub fn new(config: &VmConfig) -> Result<Vm> {
        Vm::from_raw_config(Some(&config.to_raw()))
    }

    /// A default x86 KVM VM (`hvrt_vm_create` with a NULL config): the default type under this
    /// host's kernel profile.
    pub fn with_defaults() -> Result<Vm> {
        Vm::from_raw_config(None)
    }

    /// The kernel profile this VM follows (`hvrt_vm_kvm_profile`).
    pub fn kvm_profile(&self) -> Result<KvmProfile> {
        let mut p = KvmProfile { size: core::mem::size_of::<KvmProfile>() as u32, ..Default::default() };
        // SAFETY: live VM; p is a valid struct of the size it declares.
        Error::check0(unsafe { sys::hvrt_vm_kvm_profile(self.raw, &mut p) })?;
        Ok(p)
    }

    /// `hvrt_vm_create` with a raw config (or NULL): for configs from other headers, or
    /// to test the size rules. A `size` above `size_of::<hvrt_vm_config>()` describes a newer
    /// header's struct; since a `&hvrt_vm_config` holds only this header's fields, its tail is
    /// passed as zeros (hvrt accepts a zero tail), so hvrt never reads past the reference.
    /// Errors: `EINVAL` a field out of range or `size` < 8; `E2BIG` `size` > 4096; `ENOMEM`;
    /// `EINTERNAL` when the loaded library's ABI version is not [`sys::HVRT_ABI_VERSION`].
    pub fn from_raw_config(config: Option<&sys::hvrt_vm_config>) -> Result<Vm> {
        // The inline path reads hvrt's frozen layouts: refuse a library built for others.
        if crate::abi_version() != sys::HVRT_ABI_VERSION {
            return Err(Error::EINTERNAL);
        }
        /// The largest config hvrt reads (the kernel's copy_struct_from_user bound).
        #[repr(C, align(8))]
        struct Page([u8; 4096]);
        let mut page; // only for a config longer than this header's
        let cfg: *const sys::hvrt_vm_config = match config {
            None => core::ptr::null(),
            Some(c) if c.size as usize <= core::mem::size_of::<sys::hvrt_vm_config>() => c,
            Some(c) if c.size as usize > core::mem::size_of::<Page>() => return Err(Error::E2BIG),
            Some(c) => {
                page = Page([0; 4096]);
                // SAFETY: the page is larger than the struct and 8-aligned like it.
                unsafe { core::ptr::write(page.0.as_mut_ptr() as *mut sys::hvrt_vm_config, *c) };
                page.0.as_ptr() as *const sys::hvrt_vm_config
            }
        };
        let mut raw = core::ptr::null_mut();
        // SAFETY: cfg is NULL or points to at least cfg.size readable bytes; raw is a valid
        // out-pointer.
        Error::check0(unsafe { sys::hvrt_vm_create(cfg, &mut raw) })?;
        Ok(Vm { raw, slots: Mutex::new(HashMap::new()) })
    }

    /// The raw handle, for calls this crate does not wrap. Do not destroy it, and do not change
    /// slots through it (the wrapper tracks slot sizes for the dirty-log calls).
    pub fn as_ptr(&self) -> *mut sys::hvrt_vm {
        self.raw
    }

    /// Translates `gfn` of address space `as_id` (`hvrt_translate`): no registration, any
    /// thread. Errors: `EINVAL` as_id out of range; `ENOENT` gfn in no slot; `ENOMEM` (a
    /// thread's first call).
    pub fn translate(&self, as_id: u32, gfn: u64) -> Result<Translation> {
        let mut t = Translation::default();
        // SAFETY: live VM; t is a valid out-pointer.
        Error::check0(unsafe { sys::hvrt_translate(self.raw, as_id, gfn, &mut t.0) })?;
        Ok(t)
    }

    /// Translates `gfns` into `out` from one slot set (`hvrt_translate_batch`); returns the
    /// number of hits. Each entry's `result()` is 0 or `HVRT_ENOENT`.
    /// Errors: `EINVAL` `out.len() != gfns.len()` (checked here), as_id out of range, or more
    /// than `i32::MAX` gfns.
    pub fn translate_batch(&self, as_id: u32, gfns: &[u64], out: &mut [Translation]) -> Result<usize> {
        if out.len() != gfns.len() {
            return Err(Error::EINVAL);
        }
        // SAFETY: live VM; gfns and out hold gfns.len() elements; Translation is
        // repr(transparent) over hvrt_translation.
        let rc = unsafe {
            sys::hvrt_translate_batch(self.raw, as_id, gfns.as_ptr(), gfns.len(), out.as_mut_ptr().cast())
        };
        Error::check(rc).map(|n| n as usize)
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        // SAFETY: &mut self: no Reader or Vcpu borrows or owns this Vm any more (they hold a
        // VmOwner), so no other call on it can run or follow.
        unsafe { sys::hvrt_vm_destroy(self.raw) }
    }
}

impl std::fmt::Debug for Vm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vm").field("raw", &self.raw).finish()
    }
}
