using System;
using Hvrt.Layout;

namespace Hvrt.Abi;

/// <summary>
/// The out-copy of a struct that starts with its own size (hvrt_kvm_caps, hvrt_kvm_profile): the
/// caller's size in (at least 8), min(it, sizeof) bytes written, that count stored as the size.
/// The export checks first (its errno comes before the ones of the work it then does) and writes
/// once it has the value.
/// </summary>
internal static unsafe class SizedCopy
{
    /// <summary>0, -EFAULT (dst NULL) or -EINVAL (the caller's size below 8).</summary>
    public static int Check(void* dst)
    {
        if (dst == null)
        {
            return -Errno.EFAULT;
        }
        return *(uint*)dst < 8 ? -Errno.EINVAL : 0;
    }

    /// <summary>Writes all into a checked dst.</summary>
    public static void Write<T>(T all, T* dst)
        where T : unmanaged
    {
        uint n = Math.Min(*(uint*)dst, (uint)sizeof(T));
        *(uint*)&all = n;
        Buffer.MemoryCopy(&all, dst, n, n);
    }
}
