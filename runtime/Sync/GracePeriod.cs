using System.Runtime.CompilerServices;
using System.Threading;

namespace Hvrt.Sync;

/// <summary>
/// Grace periods for two kinds of readers (urcu-qsbr on top of urcu-memb). A writer that has
/// published a new snapshot calls <see cref="Synchronize"/> before freeing the old one; it returns
/// once no reader of either kind can still hold the old snapshot:
/// <list type="bullet">
/// <item>unregistered readers (hvrt_translate) hold it only inside a read section:
/// <see cref="ReadSection.Synchronize"/> waits for those;</item>
/// <item>registered readers (<see cref="ReaderRecord"/>) hold whatever they loaded while online
/// until their next quiescent state, offline or unregister. The writer takes a new grace-period
/// number gp = ++<see cref="GraceDomain.Counter"/> and waits, for every record, while 0 &lt; ctr &lt; gp: a reader that
/// is offline (ctr 0) or has reported a quiescent state after gp was taken (ctr &gt;= gp) holds
/// nothing older than the new snapshot.</item>
/// </list>
///
/// Orderings, each with its partner:
/// <list type="number">
/// <item>Quiescent: acquire-load the counter, release-store ctr. The release orders every load the
/// reader made of the old snapshot before the store; the writer's acquire load of ctr
/// (WaitFor) pairs with it, so those loads are done before the writer frees. The acquire pairs
/// with the writer's Interlocked.Increment (a release too): a reader that saw gp also sees the
/// snapshot pointer published before the increment, so its next loads find the new snapshot.</item>
/// <item>Offline: release-store ctr = 0; same partner as quiescent (the writer's load of ctr).</item>
/// <item>Online: ctr goes 0 → counter, and then the reader loads a snapshot pointer: a store
/// followed by a load, which x86 (and every weaker model) may reorder. Without a full fence the
/// reader could load the old pointer while the writer still reads ctr = 0, skip it and free the
/// snapshot. So the store is an Interlocked.Exchange (full fence), whose partner is the writer's
/// full fence between its store of the new pointer (VmLayout.Publish) and its loads of ctr: the
/// Interlocked.Increment of the counter. Of two store-fence-load sequences at least one sees the
/// other's store: the writer sees ctr != 0 and waits, or the reader loads the new pointer.
/// Registration goes online the same way and then links a fresh record into the list with an
/// Interlocked.Exchange of the head, so the same argument covers a writer that has not seen
/// the record yet (its load of the head plays the role of the load of ctr).</item>
/// </list>
/// The counter starts at 1 (<see cref="ReaderRegistry.Register"/> sets it before the first reader
/// goes online), so an observed counter is never 0, the value that means offline.
/// </summary>
internal static unsafe class GracePeriod
{
    /// <summary>Yields before the writer starts sleeping 1 ms between looks at a slow reader.</summary>
    private const int YieldsBeforeSleep = 200;

    /// <summary>Waits until no reader, registered or not, can hold a snapshot retired before the call (writer side).</summary>
    public static void Synchronize(GraceDomain* d)
    {
        ReadSection.Synchronize();
        // Full barrier: orders the caller's publish before the loads of the list and of every ctr
        // below; pairs with the Interlocked.Exchange in Online and in the registry's link.
        ulong gp = Interlocked.Increment(ref d->Counter);
        for (var r = (ReaderRecord*)Volatile.Read(ref *(nint*)&d->Readers); r != null; r = r->Next)
        {
            WaitFor(r, gp);
        }
    }

    private static void WaitFor(ReaderRecord* r, ulong gp)
    {
        var spin = new SpinWait();
        int looks = 0;
        while (true)
        {
            // Acquire: pairs with the release stores in Quiescent and Offline.
            ulong ctr = Volatile.Read(ref r->Ctr);
            if (ctr == 0 || ctr >= gp)
            {
                return;
            }
            // An online reader may take long to quiesce (or never: the documented hazard); do not
            // burn a CPU for it.
            if (looks++ < YieldsBeforeSleep)
            {
                spin.SpinOnce(sleep1Threshold: -1);
            }
            else
            {
                Thread.Sleep(1);
            }
        }
    }

    /// <summary>The reader holds nothing loaded before this call (it stays online).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Quiescent(GraceDomain* d, ReaderRecord* r)
    {
        Volatile.Write(ref r->Ctr, Volatile.Read(ref d->Counter));
    }

    /// <summary>The reader holds nothing and will load nothing until <see cref="Online"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Offline(ReaderRecord* r)
    {
        Volatile.Write(ref r->Ctr, 0UL);
    }

    /// <summary>The reader may load snapshots again; full fence before its next load (see the header).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Online(GraceDomain* d, ReaderRecord* r)
    {
        Interlocked.Exchange(ref r->Ctr, Volatile.Read(ref d->Counter));
    }
}
