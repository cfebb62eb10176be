using System.Runtime.InteropServices;
using System.Threading;

namespace Hvrt.Sync;

/// <summary>
/// Read-side critical sections that need no registration (SRCU's scheme): a reader counts itself
/// into one of two phases on a per-CPU stripe, reads the published snapshot, and counts itself out.
/// A writer that has published a new snapshot calls <see cref="Synchronize"/> before freeing the
/// old one: it waits for stragglers of the idle phase, flips the phase, then waits until every
/// reader of the previous phase has left.
///
/// Why one flip is safe: a reader increments its counter (a full barrier, lock xadd) and then
/// loads the snapshot pointer; the writer stores the new pointer, flips (full barrier) and then
/// reads the counters. Of two such store-fence-load sequences at least one sees the other's store:
/// either the writer sees the reader and waits, or the reader loads the new pointer. Waiting for
/// the idle phase first covers a reader that picked its phase before an earlier flip and counted
/// itself in after that flip's wait (SRCU's two-phase argument).
///
/// Lock and unlock counts are kept apart so a reader may migrate between CPUs in its section.
/// </summary>
[StructLayout(LayoutKind.Sequential, Size = 64)]
internal struct ReadStripe
{
    public long Lock0;
    public long Lock1;
    public long Unlock0;
    public long Unlock1;
}

internal static unsafe class ReadSection
{
    public const int Stripes = 16;

    public static nuint Bytes => (nuint)(Stripes * sizeof(ReadStripe));

    /// <summary>Enters a read section; returns the token to pass to <see cref="Exit"/>.</summary>
    public static int Enter(ReadStripe* stripes, int* phase)
    {
        int p = Volatile.Read(ref *phase) & 1;
        ReadStripe* s = stripes + (Thread.GetCurrentProcessorId() & (Stripes - 1));
        // Full barrier: orders this count before the caller's load of the snapshot pointer.
        Interlocked.Increment(ref p == 0 ? ref s->Lock0 : ref s->Lock1);
        return (int)(((nint)s - (nint)stripes) / sizeof(ReadStripe)) << 1 | p;
    }

    /// <summary>Leaves a read section; pairs with <see cref="Enter"/>.</summary>
    public static void Exit(ReadStripe* stripes, int token)
    {
        ReadStripe* s = stripes + (token >> 1);
        // Full barrier: every load of the section happens before the writer can see this count.
        Interlocked.Increment(ref (token & 1) == 0 ? ref s->Unlock0 : ref s->Unlock1);
    }

    /// <summary>Waits until no reader that could have seen a retired snapshot remains (writer side).</summary>
    public static void Synchronize(ReadStripe* stripes, int* phase)
    {
        int current = Volatile.Read(ref *phase) & 1;
        WaitDrained(stripes, current ^ 1);
        Volatile.Write(ref *phase, current ^ 1);
        Interlocked.MemoryBarrier(); // pairs with the reader's Interlocked.Increment in Enter
        WaitDrained(stripes, current);
    }

    private static void WaitDrained(ReadStripe* stripes, int p)
    {
        var spin = new SpinWait();
        while (!Drained(stripes, p))
        {
            spin.SpinOnce(sleep1Threshold: -1);
        }
    }

    private static bool Drained(ReadStripe* stripes, int p)
    {
        // Unlocks are summed before locks (SRCU): a reader counted out after the first sum is
        // also counted in by the second, so equality can only err toward waiting longer.
        long unlocks = 0, locks = 0;
        for (int i = 0; i < Stripes; i++)
        {
            unlocks += Volatile.Read(ref p == 0 ? ref stripes[i].Unlock0 : ref stripes[i].Unlock1);
        }
        Interlocked.MemoryBarrier();
        for (int i = 0; i < Stripes; i++)
        {
            locks += Volatile.Read(ref p == 0 ? ref stripes[i].Lock0 : ref stripes[i].Lock1);
        }
        return locks == unlocks;
    }
}
