using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Hvrt.Layout;

namespace Hvrt.Abi;

/// <summary>
/// hvrt_strerror / hvrt_errname over one table: each code's entry is "NAME\0text\0" in a u8
/// literal (static data in the image, never on the GC heap, so the pointers live as long as the
/// process). The table must equal HVRT_ERRNO_MAP in hvrt.h; native/tests/errors_test.c compares
/// them entry by entry.
/// </summary>
internal static unsafe class ExportsErrors
{
    private static ReadOnlySpan<byte> Entry(int code) => code switch
    {
        0 => "OK\0success\0"u8,
        -Errno.EPERM => "EPERM\0the reader is offline (call hvrt_reader_online first), or (HVRT_DEBUG) not this thread's vCPU\0"u8,
        -Errno.ENOENT => "ENOENT\0no slot holds this guest frame\0"u8,
        -Errno.E2BIG => "E2BIG\0config struct too large or with unknown non-zero fields\0"u8,
        -Errno.EBADF => "EBADF\0not a live hvrt VM, reader or vCPU, or a private fd that is not open\0"u8,
        -Errno.ENOMEM => "ENOMEM\0out of memory\0"u8,
        -Errno.EACCES => "EACCES\0a discard was refused: the shared memory is a private or read-only file mapping\0"u8,
        -Errno.EFAULT => "EFAULT\0NULL pointer argument\0"u8,
        -Errno.EEXIST => "EEXIST\0already there: an overlapping slot, or a listener added twice\0"u8,
        -Errno.EINVAL => "EINVAL\0invalid argument (as KVM would refuse it)\0"u8,
        -Errno.EMFILE => "EMFILE\0too many open files: the private fd could not be duplicated\0"u8,
        -Errno.EDEADLK => "EDEADLK\0a change of the VM from inside its own conversion listener\0"u8,
        -Errno.EINTR => "EINTR\0interrupted by a signal (KVM_RUN, fallocate)\0"u8,
        -Errno.EIO => "EIO\0I/O error reported by the kernel\0"u8,
        -Errno.ENXIO => "ENXIO\0no dirty bitmap: the bound VM logs dirty pages in a ring\0"u8,
        -Errno.EAGAIN => "EAGAIN\0try again (the kernel asked for a retry)\0"u8,
        -Errno.EBUSY => "EBUSY\0busy: already bound, readers still registered, or (HVRT_DEBUG) a reader in use by another thread\0"u8,
        -Errno.ENODEV => "ENODEV\0not supported by this KVM (no such capability or device)\0"u8,
        -Errno.ENOTTY => "ENOTTY\0not a KVM VM fd (the ioctl is unknown to the fd)\0"u8,
        -Errno.ENOSYS => "ENOSYS\0not implemented by this KVM\0"u8,
        -Errno.EOPNOTSUPP => "EOPNOTSUPP\0operation not supported on this file or VM\0"u8,
        -Errno.EHWPOISON => "EHWPOISON\0memory failure: the page is poisoned\0"u8,
        -Errno.EINTERNAL => "EINTERNAL\0internal hvrt error (a bug)\0"u8,
        _ => "UNKNOWN\0unknown error\0"u8,
    };

    private static byte* Start(ReadOnlySpan<byte> entry) => (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetReference(entry));

    [UnmanagedCallersOnly(EntryPoint = "hvrt_errname", CallConvs = new[] { typeof(CallConvCdecl) })]
    public static byte* ErrName(int code) => Start(Entry(code));

    [UnmanagedCallersOnly(EntryPoint = "hvrt_strerror", CallConvs = new[] { typeof(CallConvCdecl) })]
    public static byte* StrError(int code)
    {
        ReadOnlySpan<byte> entry = Entry(code);
        return Start(entry) + entry.IndexOf((byte)0) + 1;
    }
}
