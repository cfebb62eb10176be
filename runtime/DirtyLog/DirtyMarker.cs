using Hvrt.Index;
using Hvrt.Layout;
using Hvrt.Machine;
using Hvrt.Slots;
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
    public static long Mark(VmHandle* vm, DirtyTable table, ulong gfn, ulong end)
    {
        ReadSection.ThreadRecord* section = ReadSection.Enter();
        if (section == null)
        {
            return -Errno.ENOMEM;
        }
        long marked = 0;
        Snapshot* s = VmLayout.Load(&vm->Read, 0);
        IndexTop* top = &s->Gfn;
        nuint leaves = top->NrLeaves;
        if (leaves != 0)
        {
            // The entry at or before gfn, then forward while entries start before end (slots of
            // one address space never overlap, so they are sorted by start and by end alike).
            nuint li = Search.LastAtMost(top->First0, leaves, gfn);
            Leaf* leaf = top->Leaves[li];
            nuint ei = Search.LastAtMost(leaf->Keys, leaf->Count, gfn);
            for (; li < leaves; li++, ei = 0)
            {
                leaf = top->Leaves[li];
                for (; ei < leaf->Count; ei++)
                {
                    SlotEntry* e = Leaf.Entry(leaf, ei);
                    if (e->BaseGfn >= end)
                    {
                        goto done;
                    }
                    if (e->EndGfn > gfn && (e->KvmFlags & SlotFlags.LogDirtyPages) != 0)
                    {
                        marked += MarkEntry(table, e, gfn, end);
                    }
                }
            }
        }
    done:
        ReadSection.Exit(section);
        return marked;
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
