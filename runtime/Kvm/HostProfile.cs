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
            if (region2 is -Errno.ENOTTY or -Errno.EINVAL)
            {
                // Something that is not KVM at that path (a container's stand-in): no KVM here.
                profile = KernelProfile.Named(KernelProfile.Newest, HvrtKvmProfile.FromNoKvm);
                return 0;
            }
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
            int vmGmem = Check(vm, KvmApi.KVM_CAP_GUEST_MEMFD);
            if (slots < 0 || spaces < 0 || vmGmem < 0)
            {
                Libc.Close(vm);
                return slots < 0 ? slots : spaces < 0 ? spaces : vmGmem;
            }
            // KVM_CAP_MULTI_ADDRESS_SPACE 0 (a KVM without SMM) is one address space.
            profile = named.OnHost(vmTypes, slots > 0 ? (uint)slots : named.NrMemslots, spaces > 0 ? (uint)spaces : 1u, gmem > 0, attrs > 0);
            if (vmGmem > 0)
            {
                profile = ProbeBindRules(vm, profile);
            }
            Libc.Close(vm);
            return 0;
        }
        finally
        {
            Libc.Close(kvm);
        }
    }

    private static int Check(int fd, uint cap) => Libc.IoctlValue(fd, KvmApi.KVM_CHECK_EXTENSION, cap);

    /// <summary>
    /// The two bind rules stable kernels changed without a capability to tell (7.2's
    /// 7ea987a90585 and eba85fee7fc6, backported to some stable lines), asked of the VM itself:
    /// bind one guest_memfd page to two slots (-EINVAL or -EEXIST), and bind a page whose end is
    /// at 2^63 (a signed sum wraps and passes; an unsigned one is -EINVAL). The profile's own
    /// rules stay where the VM refuses the first bind.
    /// </summary>
    private static KernelProfile ProbeBindRules(int vm, KernelProfile profile)
    {
        const ulong Page = 4096;
        int gmem = KvmIoctls.CreateGuestMemfd(vm, 2 * Page, 0);
        if (gmem < 0)
        {
            return profile;
        }
        // No memory behind it: KVM checks the host address with access_ok only.
        var r = new KvmUserspaceMemoryRegion2 { Slot = 0, Flags = SlotFlags.Private, MemorySize = Page, UserspaceAddr = 0x10000000, GuestMemfd = (uint)gmem };
        try
        {
            if (KvmIoctls.SetRegion(vm, true, r) != 0)
            {
                return profile;
            }
            var again = r with { Slot = 1, GuestPhysAddr = Page };
            int rebind = KvmIoctls.SetRegion(vm, true, again);
            var high = r with { Slot = 2, GuestPhysAddr = 2 * Page, GuestMemfdOffset = (1ul << 63) - Page };
            int end = KvmIoctls.SetRegion(vm, true, high);
            return profile with { BindEndUnsigned = end == -Errno.EINVAL, RebindErrno = rebind is -Errno.EEXIST ? -Errno.EEXIST : -Errno.EINVAL };
        }
        finally
        {
            // Closing the VM (the caller) deletes its slots; the guest_memfd goes with its last reference.
            Libc.Close(gmem);
        }
    }
}
