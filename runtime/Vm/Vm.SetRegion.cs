using Hvrt.Index;
using Hvrt.Layout;
using Hvrt.Slots;

namespace Hvrt.Machine;

internal sealed unsafe partial class Vm
{
    /// <summary>
    /// KVM_SET_USER_MEMORY_REGION{,2} and the _ext proposal: <see cref="SlotRules"/> checks in KVM's
    /// order, then the VM applies the change (snapshot, dirty log, private files, the bound KVM).
    /// Returns 0 or -errno; on error nothing changes.
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
    /// Applies regions in order, each with KVM_SET_USER_MEMORY_REGION2's rules (v1's where the
    /// profile has no REGION2) as if it were the
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
                // A kernel without KVM_SET_USER_MEMORY_REGION2 (6.1) checks each entry as v1 would.
                RegionEntry entry = Rules.Profile.HasRegion2 ? RegionEntry.Region2 : RegionEntry.V1;
                for (int i = 0; i < n; i++)
                {
                    int r = SetRegionLocked(regions[i], entry);
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
        int r = _slotRules.Check(mem, entry, out SlotChange change);
        if (r != 0 || change.Kind == SlotChangeKind.NoOp)
        {
            return r;
        }

        // hvrt accepts the change. It reserves the snapshot room every kind of change needs
        // before KVM is asked (the op's own Prepare below then allocates nothing), so -ENOMEM there
        // leaves KVM untouched and a delete cannot fail after KVM deleted: putting the slot back
        // would lose KVM's dirty log of it.
        if (!Change(change.AsId).Prepare())
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
        r = change.Kind switch
        {
            SlotChangeKind.Delete => Delete(change.Old!),
            SlotChangeKind.Create => CreateSlot(mem, change),
            _ => Relocate(change.Old!, change.BaseGfn, change.Flags),
        };
        if (r != 0)
        {
            Kvm.RestoreSlot(mem.Slot, change.Old);
        }
        return r;
    }

    /// <summary>A checked create: fails only for lack of memory or fds, and then changes nothing.</summary>
    private int CreateSlot(in KvmUserspaceMemoryRegion2 mem, in SlotChange change)
    {
        uint asId = change.AsId;
        ulong npages = change.NPages;
        PrivateFile.Info file = change.File;
        SlotSet set = _sets[asId];
        bool isPrivate = (mem.Flags & SlotFlags.Private) != 0;
        SnapshotBuilder next = Change(asId);
        if (!next.Prepare())
        {
            return -Errno.ENOMEM;
        }
        if (DirtyLogOnCreate(asId, change.Id, mem.Flags, npages, mem.UserspaceAddr) is int dirty and < 0)
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
            Id = change.Id,
            BaseGfn = change.BaseGfn,
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

    /// <summary>
    /// A checked KVM_MR_MOVE or KVM_MR_FLAGS_ONLY: the slot gets the request's base gfn (unchanged
    /// for flags-only) and flags (KVM builds the new slot from the request).
    /// </summary>
    private int Relocate(MemSlot old, ulong baseGfn, uint flags)
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
        if (baseGfn != old.BaseGfn)
        {
            _sets[old.AsId].Move(old, baseGfn);
        }
        old.Flags = flags;
        next.Insert(old.ToEntry());
        return 0;
    }

    /// <summary>
    /// KVM's binding rule: a page of a private file backs at most one gfn, across all address
    /// spaces. Asked of the same Private index the reverse queries use, including changes of this
    /// batch not yet published.
    /// </summary>
    public bool PrivatePagesBound(ulong dev, ulong ino, ulong firstPage, ulong npages)
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
