using System.Runtime.CompilerServices;
using System.Threading;

namespace Hvrt.Testing;

/// <summary>The call sites a test can make fail (HVRT_FAULT_* in hvrt_testing.h).</summary>
internal static class FaultSite
{
    /// <summary>Every unmanaged allocation (<see cref="Memory.NativeAlloc.Alloc"/>): returns null, callers give -ENOMEM.</summary>
    public const int Alloc = 1 << 0;

    /// <summary>fallocate(PUNCH_HOLE) of a conversion to shared.</summary>
    public const int Fallocate = 1 << 1;

    /// <summary>madvise(MADV_REMOVE / MADV_DONTNEED) of a conversion to private.</summary>
    public const int Madvise = 1 << 2;

    /// <summary>Every ioctl (KVM VM fd: slots, attributes, dirty log, caps, guest_memfd; vCPU: KVM_RUN).</summary>
    public const int KvmIoctl = 1 << 3;

    /// <summary>The dup of a private file (hvrt's own duplicate, one per file).</summary>
    public const int Dup = 1 << 4;

    /// <summary>The mmap of a new guest_memfd's shared half.</summary>
    public const int Mmap = 1 << 5;

    public const int All = Alloc | Fallocate | Madvise | KvmIoctl | Dup | Mmap;
}

/// <summary>
/// Test-only fault injection (Linux's fail_nth, per process): armed with a set of sites and N,
/// the Nth call counted at those sites fails once with the given errno, every other call runs
/// as usual. Disarmed, a site costs one load of <see cref="s_sites"/> and a branch that is
/// always not-taken; the hot paths (translate, lookup, mark_dirty, reader online/offline) have
/// no site at all. Counting is a single Interlocked.Increment, so concurrent calls each get a
/// distinct number and exactly one of them fails.
/// </summary>
internal static class FaultInjection
{
    // No static initializers: NativeAOT then needs no class-constructor check before a load.
    private static int s_sites;
    private static long s_nth;
    private static int s_err;
    private static long s_calls;
    private static int s_fired;

    /// <summary>True while a test has armed some site (the one branch at every site).</summary>
    public static bool Armed
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => s_sites != 0;
    }

    /// <summary>
    /// Arms (sites != 0) or disarms (sites 0). Arming resets the count and the fired site;
    /// disarming keeps both for <see cref="Status"/>. Arguments are checked by the export.
    /// </summary>
    public static void Arm(int sites, ulong nth, int err)
    {
        if (sites == 0)
        {
            Volatile.Write(ref s_sites, 0);
            return;
        }
        Volatile.Write(ref s_sites, 0);
        s_nth = (long)nth;
        s_err = err;
        Volatile.Write(ref s_calls, 0);
        Volatile.Write(ref s_fired, 0);
        Volatile.Write(ref s_sites, sites);
    }

    /// <summary>Calls counted since the last arming, and the site whose call was failed (0: none yet).</summary>
    public static void Status(out ulong calls, out int fired)
    {
        calls = (ulong)Volatile.Read(ref s_calls);
        fired = Volatile.Read(ref s_fired);
    }

    /// <summary>
    /// A call at <paramref name="site"/> while armed: counts it when the site is selected and
    /// returns the errno (positive) it must fail with, or 0 to run normally.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static int Hit(int site)
    {
        if ((Volatile.Read(ref s_sites) & site) == 0)
        {
            return 0;
        }
        if (Interlocked.Increment(ref s_calls) != Volatile.Read(ref s_nth))
        {
            return 0;
        }
        Interlocked.CompareExchange(ref s_fired, site, 0);
        return Volatile.Read(ref s_err);
    }
}
