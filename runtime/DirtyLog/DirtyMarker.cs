using System.Runtime.CompilerServices;
using Hvrt.Index;
using Hvrt.Layout;
using Hvrt.Sync;

namespace Hvrt.DirtyLog;

/// <summary>
/// hvrt_mark_dirty: walks the slots of address space 0 that [gfn, end) touches in the published
/// snapshot, inside a read section (no lock, no allocation), and marks the logging ones. The
/// section keeps both the snapshot and the bitmaps it leads to alive: the writer frees a
/// replaced bitmap only after a grace period, like a snapshot.
/// </summary>
internal static unsafe class DirtyMarker
{
    /// <summary>Pages of [gfn, end) inside logging slots (each marked dirty), or -ENOMEM (no read-section record).</summary>
    public static long Mark(VmLayout* vm, DirtyTable table, ulong gfn, ulong end)
    {
        ReadSection.ThreadRecord* section = ReadSection.Enter();
        if (section == null)
        {
            return -Errno.ENOMEM;
        }
        var sink = new MarkSink { Table = table, Gfn = gfn, End = end };
        RangeQuery.ByGfn(&VmLayout.Load(vm, 0)->Gfn, gfn, end, ref sink);
        ReadSection.Exit(section);
        return sink.Marked;
    }

    /// <summary>Marks each logging slot the walk finds and counts the pages.</summary>
    private struct MarkSink : IEntrySink
    {
        public DirtyTable Table;
        public ulong Gfn, End;
        public long Marked;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Add(SlotEntry* e)
        {
            if ((e->KvmFlags & SlotFlags.LogDirtyPages) != 0)
            {
                Marked += MarkEntry(Table, e, Gfn, End);
            }
        }
    }

    private static long MarkEntry(DirtyTable table, SlotEntry* e, ulong gfn, ulong end)
    {
        DirtyBitmap* b = table.Load(e->Slot);
        // No bitmap yet or any more (the entry is from a snapshot older than the change), or the
        // cell already holds the bitmap of a slot re-created in the same batch with another size
        // or host range: the write is not this bitmap's to record.
        if (b == null || !DirtyBitmap.Belongs(b, e->NPages, e->Hva))
        {
            return 0;
        }
        ulong first = gfn > e->BaseGfn ? gfn - e->BaseGfn : 0;
        ulong last = (end < e->EndGfn ? end : e->EndGfn) - e->BaseGfn;
        DirtyBitmap.MarkRange(b, first, last - first);
        // Still live after the writes: a bitmap freed under the marker (a broken grace period)
        // shows as a poisoned header here (HVRT_POISON=1; the stress test asserts it never does).
        DirtyBitmap.CheckLive(b);
        return (long)(last - first);
    }
}
