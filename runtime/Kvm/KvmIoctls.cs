using System.Runtime.InteropServices;
using Hvrt.Layout;
using Hvrt.Platform;

namespace Hvrt.Kvm;

/// <summary>
/// The VM-fd ioctls a binding issues, each as one call returning the ioctl's result or -errno
/// (KVM's own errno: hvrt passes it through unchanged).
/// </summary>
internal static unsafe class KvmIoctls
{
    /// <summary>KVM_ENABLE_CAP(cap) with args[0] = arg.</summary>
    public static int EnableCap(int vmFd, uint cap, ulong arg)
    {
        var e = new KvmEnableCap { Cap = cap, Arg0 = arg };
        return Libc.Ioctl(vmFd, KvmApi.KVM_ENABLE_CAP, &e);
    }

    /// <summary>
    /// One memslot request: KVM_SET_USER_MEMORY_REGION2 when <paramref name="region2"/>, else
    /// KVM_SET_USER_MEMORY_REGION with the first 32 bytes (the same prefix by KVM's own layout).
    /// </summary>
    public static int SetRegion(int vmFd, bool region2, in KvmUserspaceMemoryRegion2 mem)
    {
        KvmUserspaceMemoryRegion2 copy = mem;
        return region2
            ? Libc.Ioctl(vmFd, KvmApi.KVM_SET_USER_MEMORY_REGION2, &copy)
            : Libc.Ioctl(vmFd, KvmApi.KVM_SET_USER_MEMORY_REGION, &copy);
    }

    /// <summary>KVM_SET_MEMORY_ATTRIBUTES over gfns [start, end): PRIVATE or shared (0).</summary>
    public static int SetAttributes(int vmFd, ulong start, ulong end, bool isPrivate)
    {
        var a = new KvmMemoryAttributes { Address = start << 12, Size = (end - start) << 12, Attributes = isPrivate ? KvmCaps.AttributePrivate : 0 };
        return Libc.Ioctl(vmFd, KvmApi.KVM_SET_MEMORY_ATTRIBUTES, &a);
    }

    /// <summary>KVM_CREATE_GUEST_MEMFD: the new fd or -errno.</summary>
    public static int CreateGuestMemfd(int vmFd, ulong size, ulong flags)
    {
        var g = new KvmCreateGuestMemfd { Size = size, Flags = flags };
        return Libc.Ioctl(vmFd, KvmApi.KVM_CREATE_GUEST_MEMFD, &g);
    }
}
