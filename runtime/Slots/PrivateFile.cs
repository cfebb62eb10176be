using Hvrt.Layout;
using Hvrt.Platform;
using Hvrt.Testing;

namespace Hvrt.Slots;

/// <summary>
/// Checks a private backing file the way kvm_gmem_bind does, in its order, and duplicates it so
/// the slot owns a reference that the caller's close cannot take away.
/// </summary>
internal static class PrivateFile
{
    private const string GuestMemfdLink = "anon_inode:[kvm-gmem]";

    /// <summary>Result of <see cref="Inspect"/>: the file's identity and size.</summary>
    public readonly record struct Info(ulong Dev, ulong Ino, long Size);

    /// <summary>
    /// Inspects fd for a slot of <paramref name="size"/> bytes at <paramref name="offset"/>.
    /// region2 (KVM_MEM_GUEST_MEMFD) accepts only a guest_memfd and applies KVM's signed-offset
    /// arithmetic to the end check (loff_t: offset + size wraps negative and passes, as in the
    /// kernel); the _ext entry (KVM_MEM_PRIVATE, the seed design) also accepts a memfd or a regular
    /// file and checks the end without wrap-around. Returns 0, -EBADF or -EINVAL.
    /// </summary>
    public static int Inspect(uint fd, ulong offset, ulong size, bool guestMemfdOnly, bool endUnsigned, out Info info)
    {
        info = default;
        if (fd > int.MaxValue || Libc.FStat((int)fd, out Libc.Stat st) < 0)
        {
            return -Errno.EBADF;
        }
        if (guestMemfdOnly)
        {
            if (Libc.FdLink((int)fd) != GuestMemfdLink && !StandInGuestMemfds.Contains(st.Dev, st.Ino))
            {
                return -Errno.EINVAL;
            }
            // The kernel's own arithmetic: a signed loff_t sum that may wrap negative and pass, or
            // (endUnsigned, 7.2's eba85fee7fc6) an unsigned one.
            bool pastEnd = endUnsigned ? offset + size > (ulong)st.Size : (long)offset < 0 || unchecked((long)(offset + size)) > st.Size;
            if (pastEnd)
            {
                return -Errno.EINVAL;
            }
        }
        else
        {
            if ((st.Mode & Libc.S_IFMT) != Libc.S_IFREG)
            {
                return -Errno.EINVAL;
            }
            if (offset + size > (ulong)st.Size)
            {
                return -Errno.EINVAL;
            }
        }
        info = new Info(st.Dev, st.Ino, st.Size);
        return 0;
    }
}
