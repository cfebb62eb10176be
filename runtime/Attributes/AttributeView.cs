using System.Runtime.CompilerServices;
using System.Threading;
using Hvrt.Bits;
using Hvrt.Layout;

namespace Hvrt.Attributes;

/// <summary>
/// The read side of an <see cref="AttributeStore"/>, over its native root alone: lock-free and
/// allocation-free, so the read paths (the translator, the exit handler) reach it from the VM's
/// handle (VmLayout.AttributeRoot) and never through managed state. See the store for the
/// structure and why a reader concurrent with a change sees each page before or after it.
/// </summary>
internal readonly unsafe struct AttributeView
{
    private readonly nint* _root;

    public AttributeView(nint* root)
    {
        _root = root;
    }

    public AttributeView(nint root)
        : this((nint*)root)
    {
    }

    /// <summary>The chunk holding gfn (possibly the full sentinel), or null when its pages are all 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private readonly ulong* ChunkOf(ulong gfn)
    {
        if (gfn >= AttributeStore.MaxPages)
        {
            return null;
        }
        var mid = (nint*)Volatile.Read(ref _root[gfn >> 40]);
        if (mid == null)
        {
            return null;
        }
        var leaf = (nint*)Volatile.Read(ref mid[(gfn >> 29) & (AttributeStore.NodeEntries - 1)]);
        if (leaf == null)
        {
            return null;
        }
        return (ulong*)Volatile.Read(ref leaf[(gfn >> 18) & (AttributeStore.NodeEntries - 1)]);
    }

    /// <summary>The attributes of one gfn (0 or PRIVATE); 0 beyond 2^52.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly ulong Get(ulong gfn)
    {
        ulong* c = ChunkOf(gfn);
        if (c == null)
        {
            return 0;
        }
        ulong i = gfn & (AttributeStore.ChunkPages - 1);
        return (c[AttributeStore.HeaderWords + (int)(i >> 6)] >> (int)(i & 63) & 1) * MemAttr.Private;
    }

    /// <summary>Whether the aligned 2 MiB frame around gfn holds pages with different attributes.</summary>
    public readonly bool Mixed2M(ulong gfn)
    {
        ulong* c = ChunkOf(gfn);
        if (c == null)
        {
            return false;
        }
        ulong f = (gfn & (AttributeStore.ChunkPages - 1)) >> 9;
        return (c[AttributeStore.MixedWord + (int)(f >> 6)] >> (int)(f & 63) & 1) != 0;
    }

    /// <summary>Whether the aligned 1 GiB frame around gfn holds pages with different attributes.</summary>
    public readonly bool Mixed1G(ulong gfn)
    {
        ulong* c = ChunkOf(gfn);
        if (c == null)
        {
            return false;
        }
        ulong n = Volatile.Read(ref c[0]);
        return n != 0 && n != AttributeStore.ChunkPages;
    }

    /// <summary>
    /// The largest uniform region the store knows around gfn (&lt; 2^52): returns null with
    /// <paramref name="uniform"/> 0 or 1 (every page of [gfn, regionEnd) shared or private), or the
    /// chunk with uniform -1 when its pages differ (regionEnd is then the chunk's end).
    /// </summary>
    private readonly ulong* Locate(ulong gfn, out ulong regionEnd, out int uniform)
    {
        nint e = Volatile.Read(ref _root[gfn >> 40]);
        if (e == 0 || e == AttributeStore.s_fullMid)
        {
            regionEnd = ((gfn >> 40) + 1) << 40;
            uniform = e == 0 ? 0 : 1;
            return null;
        }
        e = Volatile.Read(ref ((nint*)e)[(gfn >> 29) & (AttributeStore.NodeEntries - 1)]);
        if (e == 0 || e == AttributeStore.s_fullLeaf)
        {
            regionEnd = ((gfn >> 29) + 1) << 29;
            uniform = e == 0 ? 0 : 1;
            return null;
        }
        e = Volatile.Read(ref ((nint*)e)[(gfn >> 18) & (AttributeStore.NodeEntries - 1)]);
        regionEnd = ((gfn >> 18) + 1) << 18;
        if (e == 0)
        {
            uniform = 0;
            return null;
        }
        ulong n = Volatile.Read(ref ((ulong*)e)[0]);
        if (n == 0 || n == AttributeStore.ChunkPages)
        {
            uniform = n == 0 ? 0 : 1;
            return null;
        }
        uniform = -1;
        return (ulong*)e;
    }

    /// <summary>The first gfn in [start, end) whose PRIVATE bit is not <paramref name="isPrivate"/>, or end.</summary>
    public readonly ulong NextDiffering(ulong start, ulong end, bool isPrivate)
    {
        ulong stopAll = end < AttributeStore.MaxPages ? end : AttributeStore.MaxPages;
        ulong g = start;
        while (g < stopAll)
        {
            ulong* c = Locate(g, out ulong regionEnd, out int uniform);
            ulong stop = regionEnd < stopAll ? regionEnd : stopAll;
            if (c == null)
            {
                if ((uniform == 1) != isPrivate)
                {
                    return g;
                }
            }
            else
            {
                ulong b = g & ~(AttributeStore.ChunkPages - 1);
                ulong* bits = c + AttributeStore.HeaderWords;
                ulong r = isPrivate ? BitKernels.FindNextClear(bits, g - b, stop - b) : BitKernels.FindNextSet(bits, g - b, stop - b);
                if (r < stop - b)
                {
                    return b + r;
                }
            }
            g = stop;
        }
        // Every gfn from 2^52 on is shared.
        if (isPrivate && end > AttributeStore.MaxPages)
        {
            return start > AttributeStore.MaxPages ? start : AttributeStore.MaxPages;
        }
        return end > start ? end : start;
    }

    /// <summary>The number of PRIVATE pages in [start, end).</summary>
    public readonly ulong CountPrivate(ulong start, ulong end)
    {
        ulong stopAll = end < AttributeStore.MaxPages ? end : AttributeStore.MaxPages;
        ulong n = 0;
        ulong g = start;
        while (g < stopAll)
        {
            ulong* c = Locate(g, out ulong regionEnd, out int uniform);
            ulong stop = regionEnd < stopAll ? regionEnd : stopAll;
            if (c == null)
            {
                n += uniform == 1 ? stop - g : 0;
            }
            else
            {
                ulong b = g & ~(AttributeStore.ChunkPages - 1);
                n += BitKernels.Count(c + AttributeStore.HeaderWords, g - b, stop - b);
            }
            g = stop;
        }
        return n;
    }

    /// <summary>
    /// Iterates runs of equal attributes: for gfn &lt; end, returns true with the run
    /// [gfn, runEnd) whose pages all have <paramref name="attrs"/>, and advances gfn to runEnd.
    /// </summary>
    public readonly bool NextRun(ref ulong gfn, ulong end, out ulong runEnd, out ulong attrs)
    {
        if (gfn >= end)
        {
            runEnd = gfn;
            attrs = 0;
            return false;
        }
        attrs = Get(gfn);
        runEnd = NextDiffering(gfn, end, attrs != 0);
        gfn = runEnd;
        return true;
    }

    /// <summary>
    /// kvm_range_has_memory_attributes (v6.9+, with mask), quirks included: the mask is limited to
    /// the supported attributes and attrs outside it answer false; a one-gfn range compares that
    /// gfn; attrs 0 asks "no gfn in [start, end - 1] has any attribute" (xas_find up to end - 1,
    /// which for end 0 is the whole rest of the space, whatever the mask); other attrs walk
    /// [start, end), so an empty range answers true.
    /// </summary>
    public readonly bool RangeHas(ulong supported, ulong start, ulong end, ulong mask, ulong attrs)
    {
        mask &= supported;
        if ((attrs & ~mask) != 0)
        {
            return false;
        }
        if (end == start + 1)
        {
            return (Get(start) & mask) == attrs;
        }
        if (attrs == 0)
        {
            ulong last = end - 1;
            if (start > last)
            {
                return true;
            }
            // [start, last] inclusive; everything from 2^52 on is shared.
            ulong stop = last >= AttributeStore.MaxPages ? AttributeStore.MaxPages : last + 1;
            return start >= stop || NextDiffering(start, stop, false) == stop;
        }
        // attrs is PRIVATE here (the only supported attribute): every gfn of [start, end) must have it.
        if (start >= end)
        {
            return true;
        }
        return NextDiffering(start, end, true) == end;
    }
}
