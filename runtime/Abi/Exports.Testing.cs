using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Hvrt.Layout;
using Hvrt.Platform;
using Hvrt.Testing;

namespace Hvrt.Abi;

/// <summary>Exports of hvrt_testing.h: fault injection and stand-in guest_memfds (test-only).</summary>
internal static unsafe class ExportsTesting
{
    /// <summary>Largest errno a site may be made to fail with (Linux's MAX_ERRNO).</summary>
    private const int MaxErrno = 4095;

    [UnmanagedCallersOnly(EntryPoint = "hvrt_test_fail_nth", CallConvs = new[] { typeof(CallConvCdecl) })]
    public static int FailNth(uint sites, ulong nth, int err)
    {
        if ((sites & ~(uint)FaultSite.All) != 0)
        {
            return -Errno.EINVAL;
        }
        if (sites == 0 ? nth != 0 || err != 0 : nth == 0 || err <= 0 || err > MaxErrno)
        {
            return -Errno.EINVAL;
        }
        FaultInjection.Arm((int)sites, nth, err);
        return 0;
    }

    [UnmanagedCallersOnly(EntryPoint = "hvrt_test_fault_status", CallConvs = new[] { typeof(CallConvCdecl) })]
    public static int FaultStatus(ulong* calls, uint* fired)
    {
        if (calls == null || fired == null)
        {
            return -Errno.EFAULT;
        }
        FaultInjection.Status(out ulong c, out int f);
        *calls = c;
        *fired = (uint)f;
        return 0;
    }

    [UnmanagedCallersOnly(EntryPoint = "hvrt_test_stand_in_guest_memfd", CallConvs = new[] { typeof(CallConvCdecl) })]
    public static int StandInGuestMemfd(int fd)
    {
        if (fd < 0 || Libc.FStat(fd, out Libc.Stat st) < 0)
        {
            return -Errno.EBADF;
        }
        if ((st.Mode & Libc.S_IFMT) != Libc.S_IFREG)
        {
            return -Errno.EINVAL;
        }
        return StandInGuestMemfds.Add(st.Dev, st.Ino) ? 0 : -Errno.ENOSPC;
    }
}
