using System;
using System.Runtime.InteropServices;
using Hvrt.Layout;
using Hvrt.Platform;

namespace Hvrt.Kvm;

/// <summary>
/// What KVM offers on one VM fd, probed once at bind with KVM_CHECK_EXTENSION on the VM fd
/// (which answers for that VM, not for the host). Immutable after the bind.
/// </summary>
internal sealed class KvmCaps
{
    /// <summary>KVM_MEMORY_ATTRIBUTE_PRIVATE.</summary>
    public const ulong AttributePrivate = 1ul << 3;

    /// <summary>The one hypercall KVM can forward on x86 (KVM_EXIT_HYPERCALL_VALID_MASK).</summary>
    public const ulong MapGpaRangeExit = 1ul << (int)KvmApi.KVM_HC_MAP_GPA_RANGE;

    public bool UserMemory2 { get; init; }
    public bool GuestMemfd { get; init; }
    public bool ReadonlyMem { get; init; }
    public bool MemoryFaultInfo { get; init; }

    /// <summary>KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2: the mode bits KVM accepts (0: none).</summary>
    public ulong DirtyLogModes { get; init; }
    public ulong GuestMemfdFlags { get; init; }
    public ulong MemoryAttributes { get; init; }
    public ulong HypercallExits { get; init; }
    public uint NrMemslots { get; init; }
    public uint NrAddressSpaces { get; init; }

    /// <summary>True once the bind enabled KVM_HC_MAP_GPA_RANGE exits (HVRT_BIND_EXIT_HYPERCALL).</summary>
    public bool ExitHypercallEnabled { get; init; }

    /// <summary>KVM_SET_MEMORY_ATTRIBUTES takes PRIVATE on this VM: attribute changes go to KVM first.</summary>
    public bool MirrorsAttributes => (MemoryAttributes & AttributePrivate) != 0;

    /// <summary>
    /// Probes fd. A fd that is not a KVM VM fd is -ENOTTY: KVM_CHECK_EXTENSION fails on it
    /// (ENOTTY, or EINVAL from drivers that answer unknown ioctls so), or it is /dev/kvm itself,
    /// which answers KVM_CHECK_EXTENSION too but is not a VM (its /proc link is not
    /// "anon_inode:kvm-vm"; without /proc the link is unknown and the fd is taken as a VM).
    /// </summary>
    public static int Probe(int fd, out KvmCaps? caps)
    {
        caps = null;
        Span<long> values = stackalloc long[Probed.Length];
        for (int i = 0; i < Probed.Length; i++)
        {
            int r = Libc.IoctlValue(fd, KvmApi.KVM_CHECK_EXTENSION, Probed[i]);
            if (r < 0)
            {
                return r is -Errno.ENOTTY or -Errno.EINVAL ? -Errno.ENOTTY : r;
            }
            values[i] = r;
        }
        string? link = Libc.FdLink(fd);
        if (link != null && link != VmFdLink)
        {
            return -Errno.ENOTTY;
        }
        caps = new KvmCaps
        {
            UserMemory2 = values[0] > 0,
            GuestMemfd = values[1] > 0,
            MemoryAttributes = (ulong)values[2],
            HypercallExits = (ulong)values[3],
            DirtyLogModes = (ulong)values[4],
            ReadonlyMem = values[5] > 0,
            MemoryFaultInfo = values[6] > 0,
            NrMemslots = (uint)values[7],
            NrAddressSpaces = values[8] > 0 ? (uint)values[8] : 1,
            GuestMemfdFlags = (ulong)values[9],
        };
        return 0;
    }

    /// <summary>A copy with the hypercall exits marked enabled.</summary>
    public KvmCaps WithExitHypercall() => new()
    {
        UserMemory2 = UserMemory2,
        GuestMemfd = GuestMemfd,
        MemoryAttributes = MemoryAttributes,
        HypercallExits = HypercallExits,
        DirtyLogModes = DirtyLogModes,
        ReadonlyMem = ReadonlyMem,
        MemoryFaultInfo = MemoryFaultInfo,
        NrMemslots = NrMemslots,
        NrAddressSpaces = NrAddressSpaces,
        GuestMemfdFlags = GuestMemfdFlags,
        ExitHypercallEnabled = true,
    };

    /// <summary>The ABI view; the caller copies at most its struct's size of it.</summary>
    public HvrtKvmCaps ToAbi() => new()
    {
        Size = (uint)Marshal.SizeOf<HvrtKvmCaps>(),
        Flags = (UserMemory2 ? HvrtKvmCaps.UserMemory2 : 0)
              | (GuestMemfd ? HvrtKvmCaps.GuestMemfd : 0)
              | (MirrorsAttributes ? HvrtKvmCaps.MemoryAttributesPrivate : 0)
              | (ExitHypercallEnabled ? HvrtKvmCaps.ExitHypercall : 0)
              | (DirtyLogModes != 0 ? HvrtKvmCaps.ManualDirtyLog : 0)
              | (ReadonlyMem ? HvrtKvmCaps.ReadonlyMem : 0)
              | (MemoryFaultInfo ? HvrtKvmCaps.MemoryFaultInfo : 0),
        GuestMemfdFlags = GuestMemfdFlags,
        MemoryAttributes = MemoryAttributes,
        HypercallExits = HypercallExits,
        NrMemslots = NrMemslots,
        NrAddressSpaces = NrAddressSpaces,
    };

    private const string VmFdLink = "anon_inode:kvm-vm";

    /// <summary>The capabilities probed, in the order <see cref="Probe"/> reads them.</summary>
    private static ReadOnlySpan<uint> Probed =>
    [
        KvmApi.KVM_CAP_USER_MEMORY2,
        KvmApi.KVM_CAP_GUEST_MEMFD,
        KvmApi.KVM_CAP_MEMORY_ATTRIBUTES,
        KvmApi.KVM_CAP_EXIT_HYPERCALL,
        KvmApi.KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2,
        KvmApi.KVM_CAP_READONLY_MEM,
        KvmApi.KVM_CAP_MEMORY_FAULT_INFO,
        KvmApi.KVM_CAP_NR_MEMSLOTS,
        KvmApi.KVM_CAP_MULTI_ADDRESS_SPACE,
        KvmApi.KVM_CAP_GUEST_MEMFD_FLAGS,
    ];
}
