using System.Runtime.CompilerServices;
using Hvrt.Layout;

namespace Hvrt.Index;

/// <summary>
/// Lookups with a hint: the entry of the previous hit is tried before the binary search, so
/// runs of nearby gfns (a batch, or a vCPU touching one slot) cost a range check. The caller owns
/// the hint and guarantees it is null or an entry of the snapshot it passes (the reader cache
/// checks that by generation). Pure reads of the snapshot; no allocation, no exception.
/// </summary>
internal static unsafe class Lookup
{
    /// <summary>The entry holding gfn, or null; on a hit the hint becomes that entry.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static SlotEntry* Find(Snapshot* s, ulong gfn, ref SlotEntry* hint)
    {
        SlotEntry* e = hint;
        if (e != null && gfn - e->BaseGfn < e->NPages)
        {
            return e;
        }
        e = Search.Find(s, gfn);
        if (e != null)
        {
            hint = e;
        }
        return e;
    }

    /// <summary>
    /// Translates n gfns into out[0..n) from one snapshot, all with the generation read once;
    /// each entry's Result is 0 or -ENOENT (a miss is zero but for Result and Generation).
    /// Returns the number of hits.
    /// </summary>
    public static int Batch(Snapshot* s, ulong generation, ulong* gfns, nuint n, HvrtTranslation* output, ref SlotEntry* hint)
    {
        // The last hit's range lives in locals (registers) for the whole loop, not behind the ref.
        SlotEntry* last = hint;
        ulong lastBase = last != null ? last->BaseGfn : 0, lastPages = last != null ? last->NPages : 0;
        int hits = 0;
        for (nuint i = 0; i < n; i++)
        {
            HvrtTranslation* t = output + i;
            ulong gfn = gfns[i];
            SlotEntry* e = last;
            if (gfn - lastBase >= lastPages)
            {
                e = Search.Find(s, gfn);
                if (e == null)
                {
                    *t = default;
                    t->Result = -Errno.ENOENT;
                    t->Generation = generation;
                    continue;
                }
                last = e;
                lastBase = e->BaseGfn;
                lastPages = e->NPages;
            }
            Translator.Fill(e, gfn, generation, t);
            hits++;
        }
        hint = last;
        return hits;
    }
}
