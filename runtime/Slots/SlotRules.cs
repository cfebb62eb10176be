using Hvrt.Layout;

namespace Hvrt.Slots;

/// <summary>What an accepted slot request does (kvm_main.c's enum kvm_mr_change, plus "nothing").</summary>
internal enum SlotChangeKind
{
    /// <summary>The slot already is what the request asks (same flags): success, nothing changes.</summary>
    NoOp,
    Create,
    Delete,
    Move,
    FlagsOnly,
}

/// <summary>
/// A request <see cref="SlotRules"/> accepted, ready to apply (kvm_set_memslot's input): the kind,
/// the slot's place and flags after the change, the slot it changes (null for a create) and, for a
/// private create, the private file's identity.
/// </summary>
internal readonly record struct SlotChange(SlotChangeKind Kind, uint AsId, ushort Id, ulong BaseGfn, ulong NPages, uint Flags, MemSlot? Old, PrivateFile.Info File);

/// <summary>KVM's binding rule, asked by the rules of whoever holds the indexes (the VM).</summary>
internal interface IPrivatePageBindings
{
    /// <summary>True when a page of file (dev, ino) in [firstPage, firstPage + npages) already backs a gfn.</summary>
    bool PrivatePagesBound(ulong dev, ulong ino, ulong firstPage, ulong npages);
}

/// <summary>
/// KVM_SET_USER_MEMORY_REGION{,2} and the _ext proposal's checks, in kvm_set_memory_region's order
/// (kvm-abi.md §2), so the same input gives the same errno; the result is a <see cref="SlotChange"/>
/// that the VM applies (the kvm_set_memory_region → kvm_set_memslot split). Pure checks: nothing
/// changes here. One per VM, used under its lock.
/// </summary>
internal sealed class SlotRules
{
    private const ulong PageMask = 4095;

    private readonly VmRules _rules;
    private readonly SlotSet[] _sets;
    private readonly IPrivatePageBindings _bindings;

    public SlotRules(VmRules rules, SlotSet[] sets, IPrivatePageBindings bindings)
    {
        _rules = rules;
        _sets = sets;
        _bindings = bindings;
    }

    /// <summary>0 with the change to make (<see cref="SlotChangeKind.NoOp"/>: none), or -errno.</summary>
    public int Check(in KvmUserspaceMemoryRegion2 mem, RegionEntry entry, out SlotChange change)
    {
        change = default;
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
        if (asId >= _rules.NrAddressSpaces || id >= _rules.MaxUserSlots)
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

        MemSlot? old = _sets[asId].Get(id);
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
                change = new SlotChange(SlotChangeKind.NoOp, asId, id, baseGfn, npages, mem.Flags, old, file);
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
        SlotChangeKind kind = mem.MemorySize == 0 ? SlotChangeKind.Delete
            : old == null ? SlotChangeKind.Create
            : baseGfn != old.BaseGfn ? SlotChangeKind.Move
            : SlotChangeKind.FlagsOnly;
        change = new SlotChange(kind, asId, id, baseGfn, npages, mem.Flags, old, file);
        return 0;
    }

    /// <summary>The v1 ioctl's filter, then check_memory_region_flags.</summary>
    private int CheckFlags(uint flags, RegionEntry entry)
    {
        if (entry == RegionEntry.V1 && (flags & ~(SlotFlags.LogDirtyPages | SlotFlags.Readonly)) != 0)
        {
            return -Errno.EINVAL;
        }
        uint valid = SlotFlags.LogDirtyPages;
        if (_rules.AllowsGuestMemfd)
        {
            valid |= SlotFlags.Private;
        }
        if ((flags & SlotFlags.Private) != 0)
        {
            // Dirty logging of private memory is not supported.
            valid &= ~SlotFlags.LogDirtyPages;
        }
        else if (_rules.AllowsReadonly)
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
        return end >= hva && end <= _rules.UserAddrLimit;
    }

    private bool BeyondMaxGfn(ulong baseGfn, ulong npages) => baseGfn + npages - 1 > _rules.MaxGfn;

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
            int r = PrivateFile.Inspect(mem.GuestMemfd, mem.GuestMemfdOffset, mem.MemorySize, entry == RegionEntry.Region2,
                                        _rules.Profile.BindEndUnsigned, out file);
            if (r != 0)
            {
                return r;
            }
            // kvm_arch_prepare_memory_region runs after the file's checks (a bad fd wins over a
            // too-high gfn) and before the binding's overlap check: the lab's 6.12 answers -EINVAL,
            // not its -EEXIST, for pages bound twice by a slot past the max gfn. (Where that errno
            // is -EINVAL too, the order shows in no answer.)
            if (BeyondMaxGfn(baseGfn, npages))
            {
                return -Errno.EINVAL;
            }
            return _bindings.PrivatePagesBound(file.Dev, file.Ino, mem.GuestMemfdOffset >> 12, npages) ? _rules.Profile.RebindErrno : 0;
        }
        // kvm_arch_prepare_memory_region runs after the bind: a bad fd wins over a too-high gfn.
        return BeyondMaxGfn(baseGfn, npages) ? -Errno.EINVAL : 0;
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
}
