using System;
using Hvrt.Layout;

namespace Hvrt.Abi;

/// <summary>
/// The out-copy of a struct that starts with its own size (hvrt_kvm_caps, hvrt_kvm_profile): the
/// caller's size in (at least 8), min(it, sizeof) bytes written, that count stored as the size.
/// </summary>
internal static unsafe class SizedCopy
{
    /// <summary>0, -EFAULT (dst NULL) or -EINVAL (the caller's size below 8).</summary>
    public static int To<T>(T all, T* dst)
        where T : unmanaged
    {
        if (dst == null)
        {
            return -Errno.EFAULT;
        }
        uint size = *(uint*)dst;
        if (size < 8)
        {
            return -Errno.EINVAL;
        }
        uint n = Math.Min(size, (uint)sizeof(T));
        *(uint*)&all = n;
        Buffer.MemoryCopy(&all, dst, n, n);
        return 0;
    }
}
