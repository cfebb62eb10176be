using System;
using System.Threading;
using Hvrt.Layout;
using Hvrt.Platform;
using Hvrt.Slots;

namespace Hvrt.Kvm;

/// <summary>
/// The kernel profile a VM follows (hvrt_vm_config.kvm_profile): a named one as given, or for 0
/// this host's KVM, probed once per VM type and process: KVM_CHECK_EXTENSION on /dev/kvm for
/// KVM_CAP_USER_MEMORY2, KVM_CAP_VM_TYPES, KVM_CAP_GUEST_MEMFD_FLAGS, KVM_CAP_GUEST_MEMFD and
/// KVM_CAP_MEMORY_ATTRIBUTES (a build may lack guest_memfd or attributes), then on a VM of the type
/// (KVM_CREATE_VM, closed at once) for KVM_CAP_NR_MEMSLOTS and KVM_CAP_MULTI_ADDRESS_SPACE. The
/// rules follow from what exists: no REGION2 is 6.1; REGION2 without GUEST_MEMFD_FLAGS is 6.12
/// (6.8's rules read the same for the types a host offers); GUEST_MEMFD_FLAGS is 6.18. Without
/// a usable /dev/kvm, 0 is the newest profile.
/// </summary>
internal static class HostProfile
{
    private static readonly KernelProfile?[] s_byType = new KernelProfile?[32];
    private static readonly Lock s_lock = new();

    /// <summary>0 with the profile, -EINVAL for a profile number hvrt does not know, or the probe's -errno (not cached).</summary>
    public static int Resolve(uint requested, uint vmType, out KernelProfile? profile)
    {
        if (requested != 0)
        {
            profile = KernelProfile.Named(requested);
            return profile == null ? -Errno.EINVAL : 0;
        }
        if (vmType >= 32)
        {
            // No KVM takes it; VmRules refuses the type whichever profile it meets.
            profile = KernelProfile.Named(KernelProfile.Newest, HvrtKvmProfile.FromNoKvm);
            return 0;
        }
        lock (s_lock)
        {
            profile = s_byType[vmType];
            if (profile != null)
            {
                return 0;
            }
            int r = Probe(vmType, out profile);
            if (r == 0)
            {
                s_byType[vmType] = profile;
            }
            return r;
        }
    }

    private static int Probe(uint vmType, out KernelProfile? profile)
    {
        profile = null;
        int kvm = Libc.Open("/dev/kvm", Libc.O_RDWR | Libc.O_CLOEXEC);
        if (kvm < 0)
        {
            profile = KernelProfile.Named(KernelProfile.Newest, HvrtKvmProfile.FromNoKvm);
            return 0;
        }
        try
        {
            int region2 = Check(kvm, KvmApi.KVM_CAP_USER_MEMORY2);
            int types = Check(kvm, KvmApi.KVM_CAP_VM_TYPES);
            int gmemFlags = Check(kvm, KvmApi.KVM_CAP_GUEST_MEMFD_FLAGS);
            int gmem = Check(kvm, KvmApi.KVM_CAP_GUEST_MEMFD);
            int attrs = Check(kvm, KvmApi.KVM_CAP_MEMORY_ATTRIBUTES);
            foreach (int c in (ReadOnlySpan<int>)[region2, types, gmemFlags, gmem, attrs])
            {
                if (c < 0)
                {
                    return c;
                }
            }
            uint version = region2 == 0 ? KernelProfile.V6_1 : gmemFlags == 0 ? KernelProfile.V6_12 : KernelProfile.V6_18;
            // A KVM without KVM_CAP_VM_TYPES takes only the default type (6.1: "if (type) return -EINVAL").
            uint vmTypes = types > 0 ? (uint)types : 1u;
            KernelProfile named = KernelProfile.Named(version)!;
            if ((vmTypes & (1u << (int)vmType)) == 0)
            {
                profile = named.OnHost(vmTypes, named.NrMemslots, 0, gmem > 0, attrs > 0);
                return 0;
            }
            int vm = Libc.IoctlValue(kvm, KvmApi.KVM_CREATE_VM, vmType);
            if (vm < 0)
            {
                // Offered but refused (e.g. SEV without ASIDs): as KVM_CREATE_VM would answer, the type is not taken.
                profile = vm == -Errno.EINVAL ? named.OnHost(vmTypes & ~(1u << (int)vmType), named.NrMemslots, 0, gmem > 0, attrs > 0) : null;
                return profile != null ? 0 : vm;
            }
            int slots = Check(vm, KvmApi.KVM_CAP_NR_MEMSLOTS);
            int spaces = Check(vm, KvmApi.KVM_CAP_MULTI_ADDRESS_SPACE);
            Libc.Close(vm);
            if (slots < 0 || spaces < 0)
            {
                return slots < 0 ? slots : spaces;
            }
            // KVM_CAP_MULTI_ADDRESS_SPACE 0 (a KVM without SMM) is one address space.
            profile = named.OnHost(vmTypes, slots > 0 ? (uint)slots : named.NrMemslots, spaces > 0 ? (uint)spaces : 1u, gmem > 0, attrs > 0);
            return 0;
        }
        finally
        {
            Libc.Close(kvm);
        }
    }

    private static int Check(int fd, uint cap) => Libc.IoctlValue(fd, KvmApi.KVM_CHECK_EXTENSION, cap);
}
