using System.Runtime.CompilerServices;
using System.Threading;
using Hvrt.Bits;
using Hvrt.Layout;
using Hvrt.Memory;

namespace Hvrt.Attributes;

/// <summary>
/// A VM's memory attributes over the whole guest-physical space (2^52 gfns: every gfn a
/// <c>struct kvm_memory_attributes</c> can name), KVM's <c>mem_attr_array</c> as dense bitmaps.
/// A 4-level radix: the root (gfn bits 40-51, 4096 entries), mid nodes (bits 29-39, 2048), leaf
/// nodes (bits 18-28, 2048) and chunks of 2^18 pages (1 GiB): a header (count of private pages,
/// a 512-bit "mixed" map of its 2 MiB frames) and a 32 KiB bitmap, 1 bit per 4 KiB page for
/// PRIVATE (the only attribute). An entry is null (every page 0), the level's shared "full"
/// sentinel (every page PRIVATE), or a node of its own; so a range of any size costs at most two
/// partial nodes per level, never memory per page.
/// <para>
/// Readers walk it without locks: an entry is published with a release store after its node is
/// initialized, and nodes are never freed before <see cref="Free"/> (VM destroy); an entry that
/// becomes uniform keeps its node. Writers are serialized by the VM's lock. A reader concurrent
/// with a change sees each page before or after it.
/// </para>
/// <para>
/// Summaries: a 2 MiB frame is mixed when its 512 pages differ (the chunk's mixed bit, recomputed
/// for the frames at a change's two ends, cleared for the frames it covers), a 1 GiB frame when
/// its chunk's count is neither 0 nor 2^18; both are O(1) reads (KVM's lpage_info MIXED flags).
/// </para>
/// </summary>
internal sealed unsafe class AttributeStore
{
    public const int ChunkShift = 18;
    public const ulong ChunkPages = 1UL << ChunkShift;
    public const int GfnBits = 52;
    public const ulong MaxPages = 1UL << GfnBits;
    public const ulong Level2MPages = 512;

    private const int RootEntries = 4096;
    internal const int NodeEntries = 2048;
    internal const int HeaderWords = 16;
    internal const int MixedWord = 8;
    private const nuint ChunkBytes = (nuint)(HeaderWords + ChunkPages / 64) * 8;
    private const nuint RootBytes = RootEntries * 8;
    private const nuint NodeBytes = NodeEntries * 8;

    /// <summary>gfn shift of an entry at level 0 (root: 40), 1 (mid node: 29), 2 (leaf node: 18).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Shift(int level) => 40 - 11 * level;

    /// <summary>The shared "every page PRIVATE" sentinels of chunk, leaf-node and mid-node level.</summary>
    internal static readonly nint s_fullChunk = FullChunk();
    internal static readonly nint s_fullLeaf = FullNode(s_fullChunk);
    internal static readonly nint s_fullMid = FullNode(s_fullLeaf);

    private nint* _root;
    private readonly nint _full0 = s_fullMid;
    private readonly nint _full1 = s_fullLeaf;
    private readonly nint _full2 = s_fullChunk;

    private AttributeStore(nint* root)
    {
        _root = root;
    }

    /// <summary>Bytes of nodes and chunks this store owns (the sentinels are shared and not counted).</summary>
    public ulong AllocatedBytes { get; private set; }

    /// <summary>An empty store (every attribute 0), or null when out of memory.</summary>
    public static AttributeStore? Create()
    {
        var root = (nint*)NativeAlloc.Alloc(RootBytes);
        return root == null ? null : new AttributeStore(root) { AllocatedBytes = RootBytes };
    }

    // ------------------------------------------------------------------------------------------
    // Readers: lock-free, allocation-free; the algorithms are AttributeView's, which readers
    // without the managed store (the translator, the exit handler) use over the native root.

    /// <summary>The read side over this store's root (valid until <see cref="Free"/>).</summary>
    public AttributeView View => new(_root);

    /// <summary>The root readers reach from the VM's handle (VmLayout.AttributeRoot).</summary>
    public nint Root => (nint)_root;

    public ulong Get(ulong gfn) => View.Get(gfn);

    public bool Mixed2M(ulong gfn) => View.Mixed2M(gfn);

    public bool Mixed1G(ulong gfn) => View.Mixed1G(gfn);

    public ulong NextDiffering(ulong start, ulong end, bool isPrivate) => View.NextDiffering(start, end, isPrivate);

    public ulong CountPrivate(ulong start, ulong end) => View.CountPrivate(start, end);

    public bool NextRun(ref ulong gfn, ulong end, out ulong runEnd, out ulong attrs) => View.NextRun(ref gfn, end, out runEnd, out attrs);

    // ------------------------------------------------------------------------------------------
    // Writer (under the VM's lock).

    /// <summary>
    /// Sets [start, end) (end &lt;= 2^52) to PRIVATE or shared. Either every page changes and 0 is
    /// returned, or nothing changes and -ENOMEM is returned: the nodes the change needs (at most
    /// two per level) are materialized first, which alone changes no attribute.
    /// </summary>
    public int SetRange(ulong start, ulong end, bool isPrivate)
    {
        if (start >= end)
        {
            return 0;
        }
        int r = ForChildren(_root, 0, 0, start, end, isPrivate, prepare: true);
        if (r != 0)
        {
            return r;
        }
        ForChildren(_root, 0, 0, start, end, isPrivate, prepare: false);
        return 0;
    }

    /// <summary>
    /// Materializes the nodes a later <see cref="SetRange"/> of the same range and value needs, and
    /// changes no attribute: after it returns 0 that SetRange cannot fail (nodes are kept until
    /// <see cref="Free"/>). Returns 0 or -ENOMEM (what was materialized stays; it is harmless).
    /// </summary>
    public int Reserve(ulong start, ulong end, bool isPrivate)
    {
        return start >= end ? 0 : ForChildren(_root, 0, 0, start, end, isPrivate, prepare: true);
    }

    /// <summary>Visits the entries of a node at <paramref name="level"/> that overlap [s, e): every one, or in prepare mode the two ends.</summary>
    private int ForChildren(nint* node, int level, ulong nodeStart, ulong s, ulong e, bool value, bool prepare)
    {
        int shift = Shift(level);
        ulong first = (s - nodeStart) >> shift;
        ulong last = (e - 1 - nodeStart) >> shift;
        if (prepare)
        {
            int r = Prepare(&node[first], level, nodeStart + (first << shift), s, e, value);
            if (r == 0 && last != first)
            {
                r = Prepare(&node[last], level, nodeStart + (last << shift), s, e, value);
            }
            return r;
        }
        for (ulong i = first; i <= last; i++)
        {
            Apply(&node[i], level, nodeStart + (i << shift), s, e, value);
        }
        return 0;
    }

    private nint Full(int level) => level switch { 0 => _full0, 1 => _full1, _ => _full2 };

    private int Prepare(nint* entry, int level, ulong entryStart, ulong start, ulong end, bool value)
    {
        ulong span = 1UL << Shift(level);
        ulong s = start > entryStart ? start : entryStart;
        ulong e = end < entryStart + span ? end : entryStart + span;
        if (s == entryStart && e == entryStart + span)
        {
            return 0;
        }
        nint cur = *entry;
        if (cur == 0 || cur == Full(level))
        {
            bool full = cur != 0;
            if (full == value)
            {
                return 0;
            }
            cur = Materialize(level, full);
            if (cur == 0)
            {
                return -Errno.ENOMEM;
            }
            // Release: the node's contents are visible before the pointer.
            Volatile.Write(ref *entry, cur);
        }
        return level == 2 ? 0 : ForChildren((nint*)cur, level + 1, entryStart, s, e, value, prepare: true);
    }

    private void Apply(nint* entry, int level, ulong entryStart, ulong start, ulong end, bool value)
    {
        ulong span = 1UL << Shift(level);
        ulong s = start > entryStart ? start : entryStart;
        ulong e = end < entryStart + span ? end : entryStart + span;
        nint cur = *entry;
        if (cur == 0 || cur == Full(level))
        {
            if ((cur != 0) != value)
            {
                // Prepare materialized every partly covered entry, so this one is covered whole.
                Volatile.Write(ref *entry, value ? Full(level) : 0);
            }
            return;
        }
        if (level == 2)
        {
            ApplyChunk((ulong*)cur, s - entryStart, e - entryStart, value);
            return;
        }
        ForChildren((nint*)cur, level + 1, entryStart, s, e, value, prepare: false);
    }

    private static void ApplyChunk(ulong* c, ulong rs, ulong re, bool value)
    {
        ulong* bits = c + HeaderWords;
        ulong before = BitKernels.Count(bits, rs, re);
        if (value)
        {
            BitKernels.SetRange(bits, rs, re - rs);
            Volatile.Write(ref c[0], c[0] + (re - rs - before));
        }
        else
        {
            BitKernels.ClearRange(bits, rs, re - rs);
            Volatile.Write(ref c[0], c[0] - before);
        }
        ulong* mixed = c + MixedWord;
        ulong wholeFirst = (rs + Level2MPages - 1) >> 9;
        ulong wholeEnd = re >> 9;
        if (wholeEnd > wholeFirst)
        {
            BitKernels.ClearRange(mixed, wholeFirst, wholeEnd - wholeFirst);
        }
        ulong head = rs >> 9;
        ulong tail = (re - 1) >> 9;
        if ((rs & (Level2MPages - 1)) != 0)
        {
            Recompute2M(c, head);
        }
        if ((re & (Level2MPages - 1)) != 0 && (tail != head || (rs & (Level2MPages - 1)) == 0))
        {
            Recompute2M(c, tail);
        }
    }

    private static void Recompute2M(ulong* c, ulong frame)
    {
        ulong* bits = c + HeaderWords;
        ulong fs = frame << 9;
        bool first = (bits[fs >> 6] & 1) != 0;
        bool isMixed = !BitKernels.AllEqual(bits, fs, fs + Level2MPages, first);
        ulong* mixed = c + MixedWord;
        if (isMixed)
        {
            BitKernels.SetRange(mixed, frame, 1);
        }
        else
        {
            BitKernels.ClearRange(mixed, frame, 1);
        }
    }

    /// <summary>A node for an entry at <paramref name="level"/> with the contents of null or of the full sentinel.</summary>
    private nint Materialize(int level, bool full)
    {
        if (level == 2)
        {
            var c = (ulong*)NativeAlloc.Alloc(ChunkBytes);
            if (c == null)
            {
                return 0;
            }
            AllocatedBytes += ChunkBytes;
            if (full)
            {
                BitKernels.SetRange(c + HeaderWords, 0, ChunkPages);
                c[0] = ChunkPages;
            }
            return (nint)c;
        }
        var n = (nint*)NativeAlloc.Alloc(NodeBytes);
        if (n == null)
        {
            return 0;
        }
        AllocatedBytes += NodeBytes;
        if (full)
        {
            nint child = Full(level + 1);
            for (int i = 0; i < NodeEntries; i++)
            {
                n[i] = child;
            }
        }
        return (nint)n;
    }

    /// <summary>Frees every node and chunk (VM destroy: no reader may still walk the store).</summary>
    public void Free()
    {
        if (_root == null)
        {
            return;
        }
        for (int i = 0; i < RootEntries; i++)
        {
            var mid = (nint*)_root[i];
            if (mid == null || (nint)mid == _full0)
            {
                continue;
            }
            for (int j = 0; j < NodeEntries; j++)
            {
                var leaf = (nint*)mid[j];
                if (leaf == null || (nint)leaf == _full1)
                {
                    continue;
                }
                for (int k = 0; k < NodeEntries; k++)
                {
                    if (leaf[k] != 0 && leaf[k] != _full2)
                    {
                        NativeAlloc.Free((void*)leaf[k], ChunkBytes);
                    }
                }
                NativeAlloc.Free(leaf, NodeBytes);
            }
            NativeAlloc.Free(mid, NodeBytes);
        }
        NativeAlloc.Free(_root, RootBytes);
        _root = null;
        AllocatedBytes = 0;
    }

    // The process-wide "every page PRIVATE" sentinels: read-only, never freed. Not a fault
    // injection site: a failure in the type initializer would fail every later VM.
    private static nint FullChunk()
    {
        var c = (ulong*)NativeAlloc.AllocPermanent(ChunkBytes);
        if (c == null)
        {
            throw new System.OutOfMemoryException();
        }
        BitKernels.SetRange(c + HeaderWords, 0, ChunkPages);
        c[0] = ChunkPages;
        return (nint)c;
    }

    private static nint FullNode(nint child)
    {
        var n = (nint*)NativeAlloc.AllocPermanent(NodeBytes);
        if (n == null)
        {
            throw new System.OutOfMemoryException();
        }
        for (int i = 0; i < NodeEntries; i++)
        {
            n[i] = child;
        }
        return (nint)n;
    }
}
