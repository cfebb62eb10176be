using System.Collections.Generic;
using Hvrt.Attributes;
using Hvrt.Layout;
using Hvrt.Platform;
using Hvrt.Slots;

namespace Hvrt.Kvm;

/// <summary>
/// A VM's binding to a KVM VM fd (hvrt_kvm_bind): once bound, every slot and attribute change goes
/// to the KVM VM fd first and to hvrt only if KVM accepted it, so both hold the same slots and the
/// errno is KVM's. hvrt's own checks run before KVM is asked: a request hvrt refuses never reaches
/// KVM. It lives above the slots: the VM (Vm/) owns one and calls it under its lock, at the points
/// kvm_set_memory_region, kvm_vm_ioctl_set_mem_attributes and a conversion hand the change on.
/// </summary>
internal sealed unsafe class KvmBinding
{
    /// <summary>HVRT_BIND_EXIT_HYPERCALL.</summary>
    public const uint BindExitHypercall = 1u << 0;

    /// <summary>The KVM VM fd this VM is bound to (hvrt_kvm_bind), or -1. Set under the VM lock.</summary>
    public int Fd { get; private set; } = -1;

    /// <summary>What KVM offered at the bind, or null while unbound. Set under the VM lock, with <see cref="Fd"/>.</summary>
    public KvmCaps? Caps { get; private set; }

    /// <summary>
    /// Binds to a KVM VM fd (the caller checked the arguments and holds the VM lock): probe, enable what is asked (hypercall
    /// exits, the dirty-log mode), hand KVM every existing slot of <paramref name="sets"/> and
    /// PRIVATE run of <paramref name="attributes"/>; on any failure KVM gets back to where it was
    /// (slots and runs removed again, enabled caps set to 0) and the VM stays unbound.
    /// </summary>
    public int Bind(int fd, uint flags, uint nrAddressSpaces, uint dirtyLogMode, SlotSet[] sets, AttributeStore attributes)
    {
        if (Fd >= 0)
        {
            return -Errno.EBUSY;
        }
        int r = KvmCaps.Probe(fd, out KvmCaps? caps);
        if (r != 0)
        {
            return r;
        }
        if (nrAddressSpaces > caps!.NrAddressSpaces)
        {
            return -Errno.EINVAL;
        }
        bool hypercall = (flags & BindExitHypercall) != 0;
        uint mode = dirtyLogMode;
        if ((hypercall && (caps.HypercallExits & KvmCaps.MapGpaRangeExit) == 0) || (mode & ~caps.DirtyLogModes) != 0)
        {
            return -Errno.ENODEV;
        }
        r = EnableBindCaps(fd, hypercall, mode);
        if (r != 0)
        {
            return r;
        }
        r = ReplaySlots(fd, caps.UserMemory2, sets);
        if (r == 0 && caps.MirrorsAttributes)
        {
            r = ReplayPrivateRuns(fd, attributes);
            if (r != 0)
            {
                UnreplaySlots(fd, caps.UserMemory2, sets, int.MaxValue);
            }
        }
        if (r != 0)
        {
            DisableBindCaps(fd, hypercall, mode);
            return r;
        }
        Caps = hypercall ? caps.WithExitHypercall() : caps;
        Fd = fd;
        return 0;
    }

    /// <summary>hvrt_kvm_bind's argument checks, made before the VM lock is taken: -EBADF, -EINVAL or 0.</summary>
    public static int CheckBindArgs(int fd, uint flags)
    {
        int r = fd < 0 ? -Errno.EBADF : Libc.CheckOpen(fd);
        if (r != 0)
        {
            return r;
        }
        return (flags & ~BindExitHypercall) != 0 ? -Errno.EINVAL : 0;
    }

    private static int EnableBindCaps(int fd, bool hypercall, uint mode)
    {
        int r = hypercall ? KvmIoctls.EnableCap(fd, KvmApi.KVM_CAP_EXIT_HYPERCALL, KvmCaps.MapGpaRangeExit) : 0;
        if (r == 0 && mode != 0)
        {
            r = KvmIoctls.EnableCap(fd, KvmApi.KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, mode);
            if (r != 0 && hypercall)
            {
                KvmIoctls.EnableCap(fd, KvmApi.KVM_CAP_EXIT_HYPERCALL, 0);
            }
        }
        return r < 0 ? r : 0;
    }

    private static void DisableBindCaps(int fd, bool hypercall, uint mode)
    {
        if (hypercall)
        {
            KvmIoctls.EnableCap(fd, KvmApi.KVM_CAP_EXIT_HYPERCALL, 0);
        }
        if (mode != 0)
        {
            KvmIoctls.EnableCap(fd, KvmApi.KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, 0);
        }
    }

    /// <summary>Every slot of every address space, in (as_id, gfn) order; on a refusal the ones handed so far are deleted again.</summary>
    private static int ReplaySlots(int fd, bool region2, SlotSet[] sets)
    {
        int handed = 0;
        foreach (SlotSet set in sets)
        {
            foreach (MemSlot s in set.ByGfn)
            {
                int r = KvmIoctls.SetRegion(fd, region2, RequestOf(s));
                if (r < 0)
                {
                    UnreplaySlots(fd, region2, sets, handed);
                    return r;
                }
                handed++;
            }
        }
        return 0;
    }

    /// <summary>Deletes from KVM the first <paramref name="count"/> slots <see cref="ReplaySlots"/> handed it.</summary>
    private static void UnreplaySlots(int fd, bool region2, SlotSet[] sets, int count)
    {
        foreach (SlotSet set in sets)
        {
            foreach (MemSlot s in set.ByGfn)
            {
                if (count-- <= 0)
                {
                    return;
                }
                KvmIoctls.SetRegion(fd, region2, new KvmUserspaceMemoryRegion2 { Slot = s.KvmSlot });
            }
        }
    }

    /// <summary>Every PRIVATE run of the store, to KVM; on a refusal the runs handed so far are made shared again.</summary>
    private static int ReplayPrivateRuns(int fd, AttributeStore attributes)
    {
        const ulong all = AttributeStore.MaxPages;
        for (ulong g = attributes.NextDiffering(0, all, false); g < all;)
        {
            ulong end = attributes.NextDiffering(g, all, true);
            int r = KvmIoctls.SetAttributes(fd, g, end, true);
            if (r < 0)
            {
                for (ulong u = attributes.NextDiffering(0, g, false); u < g;)
                {
                    ulong ue = attributes.NextDiffering(u, g, true);
                    KvmIoctls.SetAttributes(fd, u, ue, false);
                    u = attributes.NextDiffering(ue, g, false);
                }
                return r;
            }
            g = attributes.NextDiffering(end, all, false);
        }
        return 0;
    }

    /// <summary>The request that creates s as it is (a private slot with hvrt's own duplicate of its file, the same file).</summary>
    private static KvmUserspaceMemoryRegion2 RequestOf(MemSlot s) => new()
    {
        Slot = s.KvmSlot,
        Flags = s.Flags,
        GuestPhysAddr = s.BaseGfn << 12,
        MemorySize = s.NPages << 12,
        UserspaceAddr = s.Hva,
        GuestMemfdOffset = s.PrivatePgoff << 12,
        GuestMemfd = s.HasPrivate ? (uint)s.PrivateFd : 0,
    };

    // ---- mirroring later changes (from the VM: Vm.SetRegion.cs, Vm.Attributes.cs; from Conversion/Converter.cs) ----

    /// <summary>
    /// A slot change hvrt has checked and accepted, to the bound KVM first: 0 (or unbound) lets
    /// hvrt apply it, anything else is KVM's errno. The v1 entry uses KVM_SET_USER_MEMORY_REGION,
    /// region2 and _ext use region2 (v1 where KVM has no KVM_CAP_USER_MEMORY2).
    /// </summary>
    public int SetRegion(in KvmUserspaceMemoryRegion2 mem, RegionEntry entry)
    {
        if (Fd < 0)
        {
            return 0;
        }
        int r = KvmIoctls.SetRegion(Fd, Caps!.UserMemory2 && entry != RegionEntry.V1, mem);
        return r < 0 ? r : 0;
    }

    /// <summary>
    /// KVM accepted a change hvrt then failed to apply (hvrt changed nothing): puts KVM's slot back
    /// to hvrt's (old; null: no slot). Best effort: KVM refusing its own previous state is not
    /// expected, and hvrt's error is what the caller gets either way.
    /// </summary>
    public void RestoreSlot(uint slot, MemSlot? old)
    {
        if (Fd >= 0)
        {
            KvmIoctls.SetRegion(Fd, Caps!.UserMemory2, old != null ? RequestOf(old) : new KvmUserspaceMemoryRegion2 { Slot = slot });
        }
    }

    /// <summary>True when attribute changes go to KVM_SET_MEMORY_ATTRIBUTES first.</summary>
    public bool MirrorsAttributes => Fd >= 0 && Caps!.MirrorsAttributes;

    /// <summary>
    /// An attribute change hvrt has checked, to KVM first where it takes PRIVATE: hvrt's nodes are
    /// reserved before (so -ENOMEM comes before KVM changes, and hvrt's SetRange cannot fail
    /// after KVM accepted). 0: hvrt may apply it; else -ENOMEM or KVM's errno.
    /// </summary>
    public int SetAttributes(AttributeStore attributes, ulong start, ulong end, bool isPrivate)
    {
        if (!MirrorsAttributes)
        {
            return 0;
        }
        int r = attributes.Reserve(start, end, isPrivate);
        if (r == 0)
        {
            r = KvmIoctls.SetAttributes(Fd, start, end, isPrivate);
        }
        return r < 0 ? r : 0;
    }

    /// <summary>A conversion's failure after KVM took it: the runs that were changing go back to their old value in KVM.</summary>
    public void UndoConversion(List<(ulong Start, ulong End)> runs, bool toPrivate)
    {
        if (MirrorsAttributes)
        {
            foreach ((ulong s, ulong e) in runs)
            {
                KvmIoctls.SetAttributes(Fd, s, e, !toPrivate);
            }
        }
    }
}
