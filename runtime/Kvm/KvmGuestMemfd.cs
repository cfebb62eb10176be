using Hvrt.Layout;
using Hvrt.Platform;

namespace Hvrt.Kvm;

/// <summary>hvrt_create_guest_memfd: KVM_CREATE_GUEST_MEMFD on a bound VM, close-on-exec, optionally mapped.</summary>
internal static unsafe class KvmGuestMemfd
{
    /// <summary>HVRT_GMEM_SHARED_IF_SUPPORTED: hvrt's own bit, never passed to KVM.</summary>
    public const ulong SharedIfSupported = 1ul << 32;

    private const ulong SharedFlags = KvmApi.GUEST_MEMFD_FLAG_MMAP | KvmApi.GUEST_MEMFD_FLAG_INIT_SHARED;

    /// <summary>
    /// The flags KVM gets: SHARED_IF_SUPPORTED becomes MMAP | INIT_SHARED where the VM offers
    /// both (KVM_CAP_GUEST_MEMFD_FLAGS) and nothing otherwise; every other bit goes to KVM as
    /// given, so KVM judges it (EINVAL for bits it does not offer).
    /// </summary>
    public static ulong KvmFlags(ulong flags, ulong offered)
    {
        if ((flags & SharedIfSupported) == 0)
        {
            return flags;
        }
        flags &= ~SharedIfSupported;
        return (offered & SharedFlags) == SharedFlags ? flags | SharedFlags : flags;
    }

    /// <summary>
    /// Creates the file (KVM checks size and flags), sets FD_CLOEXEC, and maps it when it is
    /// mmap-able and <paramref name="shared"/> is not null. Returns the fd or -errno; on an error
    /// no fd stays open and *shared is untouched.
    /// </summary>
    public static int Create(int vmFd, KvmCaps caps, ulong size, ulong flags, void** shared)
    {
        if (!caps.GuestMemfd)
        {
            return -Errno.ENODEV;
        }
        ulong kvmFlags = KvmFlags(flags, caps.GuestMemfdFlags);
        int fd = KvmIoctls.CreateGuestMemfd(vmFd, size, kvmFlags);
        if (fd < 0)
        {
            return fd;
        }
        int r = Libc.SetCloexec(fd);
        void* map = null;
        if (r == 0 && shared != null && (kvmFlags & KvmApi.GUEST_MEMFD_FLAG_MMAP) != 0)
        {
            map = Libc.MapShared(fd, size, out r);
        }
        if (r != 0)
        {
            Libc.Close(fd);
            return r;
        }
        if (shared != null)
        {
            *shared = map;
        }
        return fd;
    }
}
