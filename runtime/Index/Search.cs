using System.Runtime.CompilerServices;
using Hvrt.Layout;

namespace Hvrt.Index;

/// <summary>The gfn search of a snapshot: two branch-free binary searches, the top array then one leaf.</summary>
internal static unsafe class Search
{
    /// <summary>The entry whose range holds gfn, or null. Pure reads; no allocation.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static SlotEntry* Find(Snapshot* s, ulong gfn)
    {
        nuint leaves = s->Gfn.NrLeaves;
        if (leaves == 0)
        {
            return null;
        }
        Leaf* leaf = s->Gfn.Leaves[LastAtMost(s->Gfn.First0, leaves, gfn)];
        SlotEntry* e = Leaf.Entry(leaf, LastAtMost(leaf->Keys, leaf->Count, gfn));
        return gfn - e->BaseGfn < e->NPages ? e : null;
    }

    /// <summary>
    /// Index of the last key &lt;= x in sorted keys[0..n), or 0 when there is none (the caller's
    /// range check then fails). Branch-free: the loop count depends on n only, so random keys cost
    /// no mispredictions. hvrt_inline.h has the same loop; tests keep them in step.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static nuint LastAtMost(ulong* keys, nuint n, ulong x)
    {
        nuint lo = 0;
        while (n > 1)
        {
            nuint half = n >> 1;
            // RyuJIT does not turn a ternary inside a loop into cmov, so select by mask: the
            // compare becomes setcc, and no branch depends on the key.
            nuint take = (nuint)(-(nint)Unsafe.BitCast<bool, byte>(keys[lo + half] <= x));
            lo += half & take;
            n -= half;
        }
        return lo;
    }
}
