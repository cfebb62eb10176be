using Hvrt.Index;
using Hvrt.Layout;
using Hvrt.Platform;
using Hvrt.Slots;

namespace Hvrt.Machine;

internal sealed unsafe partial class Vm
{
    private const ulong PageMask = 4095;

    /// <summary>
    /// KVM_SET_USER_MEMORY_REGION{,2} and the _ext proposal: KVM's checks in kvm_set_memory_region's
    /// order (kvm-abi.md §2), so the same input gives the same errno. Returns 0 or -errno; on error
    /// nothing changes.
    /// </summary>
    public int SetRegion(in KvmUserspaceMemoryRegion2 mem, RegionEntry entry)
    {
        lock (_lock)
        {
            if (InCallback)
            {
                return -Errno.EDEADLK;
            }
            try
            {
                return SetRegionLocked(mem, entry);
            }
            finally
            {
                Commit();
            }
        }
    }

    /// <summary>
    /// Applies regions in order, each with KVM_SET_USER_MEMORY_REGION2's rules as if it were the
    /// only one (a later entry sees the earlier ones), and publishes once: one snapshot per changed
    /// address space and one grace period for the whole batch. Returns how many were applied.
    /// </summary>
    public int SetRegions(KvmUserspaceMemoryRegion2* regions, int n, int* results)
    {
        lock (_lock)
        {
            if (InCallback)
            {
                return -Errno.EDEADLK;
            }
            int applied = 0;
            try
            {
                for (int i = 0; i < n; i++)
                {
                    int r = SetRegionLocked(regions[i], RegionEntry.Region2);
                    if (results != null)
                    {
                        results[i] = r;
                    }
                    applied += r == 0 ? 1 : 0;
                }
            }
            finally
            {
                Commit();
            }
            return applied;
        }
    }

    private int SetRegionLocked(in KvmUserspaceMemoryRegion2 mem, RegionEntry entry)
    {
        int r = CheckFlags(mem.Flags, entry);
        if (r != 0)
        {
            return r;
        }
        uint asId = mem.Slot >> 16;
        ushort id = (ushort)mem.Slot;
        bool isPrivate = (mem.Flags & SlotFlags.Private) != 0;

        // General sanity checks.
        if ((mem.MemorySize & PageMask) != 0 || (mem.GuestPhysAddr & PageMask) != 0)
        {
            return -Errno.EINVAL;
        }
        if ((mem.UserspaceAddr & PageMask) != 0 || !AccessOk(mem.UserspaceAddr, mem.MemorySize))
        {
            return -Errno.EINVAL;
        }
        if (isPrivate && ((mem.GuestMemfdOffset & PageMask) != 0 || mem.GuestMemfdOffset + mem.MemorySize < mem.GuestMemfdOffset))
        {
            return -Errno.EINVAL;
        }
        if (asId >= Rules.NrAddressSpaces || id >= Rules.MaxUserSlots)
        {
            return -Errno.EINVAL;
        }
        if (mem.GuestPhysAddr + mem.MemorySize < mem.GuestPhysAddr)
        {
            return -Errno.EINVAL;
        }
        if (mem.MemorySize >> 12 > VmRules.MaxSlotPages)
        {
            return -Errno.EINVAL;
        }

        SlotSet set = _sets[asId];
        MemSlot? old = set.Get(id);
        ulong baseGfn = mem.GuestPhysAddr >> 12;
        ulong npages = mem.MemorySize >> 12;
        PrivateFile.Info file = default;
        if (mem.MemorySize == 0)
        {
            if (old == null)
            {
                return -Errno.EINVAL;
            }
        }
        else if (old != null)
        {
            // Private memslots are immutable: they can only be deleted.
            if (isPrivate || old.HasPrivate)
            {
                return -Errno.EINVAL;
            }
            if (mem.UserspaceAddr != old.Hva || npages != old.NPages || ((mem.Flags ^ old.Flags) & SlotFlags.Readonly) != 0)
            {
                return -Errno.EINVAL;
            }
            if (baseGfn != old.BaseGfn)
            {
                r = CheckMove(old, baseGfn, npages);
            }
            else if (mem.Flags == old.Flags)
            {
                return 0;
            }
        }
        else
        {
            r = CheckCreate(mem, entry, asId, id, baseGfn, npages, out file);
        }
        if (r != 0)
        {
            return r;
        }

        // hvrt accepts the change. It reserves the snapshot room every kind of change needs
        // before KVM is asked (the op's own Prepare below then allocates nothing), so -ENOMEM there
        // leaves KVM untouched and a delete cannot fail after KVM deleted: putting the slot back
        // would lose KVM's dirty log of it.
        if (!Change(asId).Prepare())
        {
            return -Errno.ENOMEM;
        }
        // A bound KVM gets the change first and its answer wins; if hvrt then cannot apply it
        // (-ENOMEM for a dirty bitmap, -EMFILE: hvrt changed nothing), KVM's slot is put back.
        r = Kvm.SetRegion(mem, entry);
        if (r != 0)
        {
            return r;
        }
        r = mem.MemorySize == 0 ? Delete(old!)
          : old == null ? CreateSlot(mem, asId, id, baseGfn, npages, file)
          : baseGfn != old.BaseGfn ? Move(old, baseGfn, mem.Flags)
          : UpdateFlags(old, mem.Flags);
        if (r != 0)
        {
            Kvm.RestoreSlot(mem.Slot, old);
        }
        return r;
    }

    /// <summary>The v1 ioctl's filter, then check_memory_region_flags.</summary>
    private int CheckFlags(uint flags, RegionEntry entry)
    {
        if (entry == RegionEntry.V1 && (flags & ~(SlotFlags.LogDirtyPages | SlotFlags.Readonly)) != 0)
        {
            return -Errno.EINVAL;
        }
        uint valid = SlotFlags.LogDirtyPages;
        if (Rules.AllowsGuestMemfd)
        {
            valid |= SlotFlags.Private;
        }
        if ((flags & SlotFlags.Private) != 0)
        {
            // Dirty logging of private memory is not supported.
            valid &= ~SlotFlags.LogDirtyPages;
        }
        else if (Rules.AllowsReadonly)
        {
            // READONLY writes exit as MMIO, which private memory cannot do.
            valid |= SlotFlags.Readonly;
        }
        return (flags & ~valid) != 0 ? -Errno.EINVAL : 0;
    }

    /// <summary>access_ok(hva, size) on x86-64: the end must not wrap nor pass TASK_SIZE_MAX.</summary>
    private bool AccessOk(ulong hva, ulong size)
    {
        ulong end = hva + size;
        return end >= hva && end <= Rules.UserAddrLimit;
    }

    private bool BeyondMaxGfn(ulong baseGfn, ulong npages) => baseGfn + npages - 1 > Rules.MaxGfn;

    /// <summary>A create's checks, in KVM's order; on 0, <paramref name="file"/> is the private file's identity.</summary>
    private int CheckCreate(in KvmUserspaceMemoryRegion2 mem, RegionEntry entry, uint asId, ushort id, ulong baseGfn, ulong npages, out PrivateFile.Info file)
    {
        file = default;
        if (_sets[asId].Overlaps(baseGfn, baseGfn + npages, id))
        {
            return -Errno.EEXIST;
        }
        if ((mem.Flags & SlotFlags.Private) != 0)
        {
            int r = PrivateFile.Inspect(mem.GuestMemfd, mem.GuestMemfdOffset, mem.MemorySize, entry == RegionEntry.Region2, out file);
            if (r != 0)
            {
                return r;
            }
            if (PrivatePagesBound(file.Dev, file.Ino, mem.GuestMemfdOffset >> 12, npages))
            {
                return -Errno.EINVAL;
            }
        }
        // kvm_arch_prepare_memory_region runs after the bind: a bad fd wins over a too-high gfn.
        return BeyondMaxGfn(baseGfn, npages) ? -Errno.EINVAL : 0;
    }

    /// <summary>A checked create: fails only for lack of memory or fds, and then changes nothing.</summary>
    private int CreateSlot(in KvmUserspaceMemoryRegion2 mem, uint asId, ushort id, ulong baseGfn, ulong npages, PrivateFile.Info file)
    {
        SlotSet set = _sets[asId];
        bool isPrivate = (mem.Flags & SlotFlags.Private) != 0;
        SnapshotBuilder next = Change(asId);
        if (!next.Prepare())
        {
            return -Errno.ENOMEM;
        }
        if (DirtyLogOnCreate(asId, id, mem.Flags, npages, mem.UserspaceAddr) is int dirty and < 0)
        {
            return dirty;
        }
        int dup = -1;
        if (isPrivate)
        {
            dup = _privateFiles.Acquire((file.Dev, file.Ino), (int)mem.GuestMemfd);
            if (dup < 0)
            {
                return dup;
            }
        }
        var slot = new MemSlot
        {
            AsId = asId,
            Id = id,
            BaseGfn = baseGfn,
            NPages = npages,
            Hva = mem.UserspaceAddr,
            Flags = mem.Flags,
            PrivateFd = dup,
            PrivatePgoff = isPrivate ? mem.GuestMemfdOffset >> 12 : 0,
            PrivateFile = (file.Dev, file.Ino),
        };
        set.Add(slot);
        next.Insert(slot.ToEntry());
        return 0;
    }

    private int Delete(MemSlot old)
    {
        SnapshotBuilder next = Change(old.AsId);
        if (!next.Prepare())
        {
            return -Errno.ENOMEM;
        }
        _sets[old.AsId].Remove(old);
        next.Remove(old.ToEntry());
        DirtyLogOnDelete(old);
        // The file's last slot: its duplicate is closed by Commit, after the grace period, when
        // no reader can still report it.
        if (old.HasPrivate && _privateFiles.Release(old.PrivateFile) is int fd and >= 0)
        {
            _fdsToClose.Add((fd, old.PrivateFile));
        }
        return 0;
    }

    /// <summary>A move's checks, in KVM's order.</summary>
    private int CheckMove(MemSlot old, ulong baseGfn, ulong npages)
    {
        if (_sets[old.AsId].Overlaps(baseGfn, baseGfn + npages, old.Id))
        {
            return -Errno.EEXIST;
        }
        return BeyondMaxGfn(baseGfn, npages) ? -Errno.EINVAL : 0;
    }

    /// <summary>A checked KVM_MR_MOVE: the slot gets the request's flags too (KVM builds the new slot from the request).</summary>
    private int Move(MemSlot old, ulong baseGfn, uint flags)
    {
        SlotSet set = _sets[old.AsId];
        SnapshotBuilder next = Change(old.AsId);
        if (!next.Prepare())
        {
            return -Errno.ENOMEM;
        }
        if (DirtyLogOnFlags(old, flags) is int dirty and < 0)
        {
            return dirty;
        }
        next.Remove(old.ToEntry());
        set.Move(old, baseGfn);
        old.Flags = flags;
        next.Insert(old.ToEntry());
        return 0;
    }

    private int UpdateFlags(MemSlot old, uint flags)
    {
        SnapshotBuilder next = Change(old.AsId);
        if (!next.Prepare())
        {
            return -Errno.ENOMEM;
        }
        if (DirtyLogOnFlags(old, flags) is int dirty and < 0)
        {
            return dirty;
        }
        next.Remove(old.ToEntry());
        old.Flags = flags;
        next.Insert(old.ToEntry());
        return 0;
    }

    /// <summary>
    /// KVM's binding rule: a page of a private file backs at most one gfn, across all address
    /// spaces. Asked of the same Private index the reverse queries use, including changes of this
    /// batch not yet published.
    /// </summary>
    private bool PrivatePagesBound(ulong dev, ulong ino, ulong firstPage, ulong npages)
    {
        var found = new CountingSink();
        for (uint i = 0; i < _builders.Length; i++)
        {
            if (_builders[i].Active)
            {
                RangeQuery.ByPrivate(_builders[i].PrivateView, dev, ino, firstPage, firstPage + npages, ref found);
            }
            else
            {
                RangeQuery.ByPrivate(new TopSeq(&VmLayout.Load(&_handle->Read, i)->Private), dev, ino, firstPage, firstPage + npages, ref found);
            }
        }
        return found.Count > 0;
    }
}
