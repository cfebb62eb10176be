//! `Translation`: what hvrt says about one gfn (`struct hvrt_translation`, by value).

use crate::sys;

/// The answer of a translation: the slot holding a gfn and the gfn's host address. A
/// transparent wrapper of `struct hvrt_translation`, so batch calls write arrays of it directly.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Translation(pub(crate) sys::hvrt_translation);

impl Translation {
    /// The raw struct.
    pub fn raw(&self) -> &sys::hvrt_translation {
        &self.0
    }
    /// The slot as KVM numbers it: `as_id << 16 | id`.
    pub fn slot(&self) -> u32 {
        self.0.slot
    }
    /// The slot's address space.
    pub fn as_id(&self) -> u32 {
        self.0.slot >> 16
    }
    /// The slot's id within its address space.
    pub fn slot_id(&self) -> u32 {
        self.0.slot & 0xffff
    }
    /// `HVRT_TR_*` flags.
    pub fn flags(&self) -> u32 {
        self.0.flags
    }
    /// The gfn's PRIVATE attribute is set (`HVRT_TR_PRIVATE`).
    pub fn is_private(&self) -> bool {
        self.0.flags & sys::HVRT_TR_PRIVATE != 0
    }
    /// The slot is read-only (`HVRT_TR_READONLY`).
    pub fn is_readonly(&self) -> bool {
        self.0.flags & sys::HVRT_TR_READONLY != 0
    }
    /// The slot logs dirty pages (`HVRT_TR_LOG_DIRTY`).
    pub fn logs_dirty(&self) -> bool {
        self.0.flags & sys::HVRT_TR_LOG_DIRTY != 0
    }
    /// The slot has a private backing (`HVRT_TR_HAS_PRIVATE`).
    pub fn has_private(&self) -> bool {
        self.0.flags & sys::HVRT_TR_HAS_PRIVATE != 0
    }
    /// The slot's first gfn.
    pub fn base_gfn(&self) -> u64 {
        self.0.base_gfn
    }
    /// The slot's size in pages.
    pub fn npages(&self) -> u64 {
        self.0.npages
    }
    /// Host address of the gfn (of its first byte).
    pub fn hva(&self) -> u64 {
        self.0.hva
    }
    /// Page index of the gfn in the slot's private file (0 without a private backing).
    pub fn private_pgoff(&self) -> u64 {
        self.0.private_pgoff
    }
    /// hvrt's duplicate of the private file (do not close it), or -1.
    pub fn private_fd(&self) -> i32 {
        self.0.private_fd
    }
    /// 0 for a hit; `HVRT_ENOENT` for a miss (batch calls only).
    pub fn result(&self) -> i32 {
        self.0.result
    }
    /// A hit (`result() == 0`).
    pub fn is_hit(&self) -> bool {
        self.0.result == 0
    }
    /// Pages from the gfn up to the slot's end or the first page whose attributes differ.
    pub fn run_pages(&self) -> u64 {
        self.0.run_pages
    }
    /// Generation of the slot set that answered (bit 63: it was being replaced).
    pub fn generation(&self) -> u64 {
        self.0.generation
    }
}

impl From<sys::hvrt_translation> for Translation {
    fn from(t: sys::hvrt_translation) -> Translation {
        Translation(t)
    }
}
