using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Hvrt.Abi;

/// <summary>
/// hvrt_strerror / hvrt_errname: static UTF-8 text (u8 literals live in the image, never on the
/// GC heap, so the pointers stay valid for the life of the process). The list must equal
/// HVRT_ERRNO_MAP in hvrt.h; native/tests/errors_test.c compares them entry by entry.
/// </summary>
internal static unsafe class ExportsErrors
{
    [UnmanagedCallersOnly(EntryPoint = "hvrt_strerror", CallConvs = new[] { typeof(CallConvCdecl) })]
    public static byte* StrError(int code)
    {
        System.ReadOnlySpan<byte> text = code switch
        {
            0 => "success\0"u8,
            -Errno.ENOENT => "no slot holds this guest frame\0"u8,
            -Errno.E2BIG => "config struct too large or with unknown non-zero fields\0"u8,
            -Errno.EBADF => "not a live hvrt VM, or a private fd that is not open\0"u8,
            -Errno.ENOMEM => "out of memory\0"u8,
            -Errno.EFAULT => "NULL pointer argument\0"u8,
            -Errno.EEXIST => "the slot overlaps another slot of its address space\0"u8,
            -Errno.EINVAL => "invalid argument (as KVM would refuse it)\0"u8,
            -Errno.EMFILE => "too many open files: the private fd could not be duplicated\0"u8,
            -Errno.EINTERNAL => "internal hvrt error (a bug)\0"u8,
            _ => "unknown error\0"u8,
        };
        return (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetReference(text));
    }

    [UnmanagedCallersOnly(EntryPoint = "hvrt_errname", CallConvs = new[] { typeof(CallConvCdecl) })]
    public static byte* ErrName(int code)
    {
        System.ReadOnlySpan<byte> name = code switch
        {
            0 => "OK\0"u8,
            -Errno.ENOENT => "ENOENT\0"u8,
            -Errno.E2BIG => "E2BIG\0"u8,
            -Errno.EBADF => "EBADF\0"u8,
            -Errno.ENOMEM => "ENOMEM\0"u8,
            -Errno.EFAULT => "EFAULT\0"u8,
            -Errno.EEXIST => "EEXIST\0"u8,
            -Errno.EINVAL => "EINVAL\0"u8,
            -Errno.EMFILE => "EMFILE\0"u8,
            -Errno.EINTERNAL => "EINTERNAL\0"u8,
            _ => "UNKNOWN\0"u8,
        };
        return (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetReference(name));
    }
}
