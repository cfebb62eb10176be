using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Hvrt.Abi;
using Hvrt.Memory;

namespace Hvrt.Index;

/// <summary>One slot as readers see it, 64 bytes (one cache line).</summary>
[StructLayout(LayoutKind.Sequential, Size = 64)]
internal struct SlotEntry
{
    public ulong BaseGfn;
    public ulong NPages;
    public ulong Hva;
    public ulong PrivatePgoff;
    public int PrivateFd;
    public uint KvmFlags;
    public uint Slot;
    public uint Reserved;
}

/// <summary>
/// An immutable slot set of one address space: a header, the sorted base gfns (searched) and the
/// entries (read on a hit), all in one unmanaged block. Built by the writer, published with a
/// release store, read without locks, freed after a grace period.
/// </summary>
[StructLayout(LayoutKind.Sequential, Size = 64)]
internal unsafe struct Snapshot
{
    public ulong Generation;
    public uint Count;
    public uint AsId;
    public ulong* Keys;
    public SlotEntry* Entries;
    public nuint Bytes;

    public static Snapshot* Create(uint asId, ulong generation, uint count)
    {
        nuint keyBytes = ((nuint)count * 8 + 63) & ~(nuint)63;
        nuint bytes = (nuint)sizeof(Snapshot) + keyBytes + (nuint)count * (nuint)sizeof(SlotEntry);
        var s = (Snapshot*)NativeAlloc.Alloc(bytes);
        if (s == null)
        {
            return null;
        }
        s->Generation = generation;
        s->Count = count;
        s->AsId = asId;
        s->Keys = (ulong*)(s + 1);
        s->Entries = (SlotEntry*)((byte*)s->Keys + keyBytes);
        s->Bytes = bytes;
        return s;
    }

    public static void Free(Snapshot* s)
    {
        if (s != null)
        {
            NativeAlloc.Free(s, s->Bytes);
        }
    }

    /// <summary>The entry whose range holds gfn, or null. Pure reads; no allocation.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static SlotEntry* Find(Snapshot* s, ulong gfn)
    {
        // Branch-light lower bound: the last key <= gfn.
        ulong* keys = s->Keys;
        nuint n = s->Count;
        if (n == 0 || gfn < keys[0])
        {
            return null;
        }
        nuint lo = 0;
        while (n > 1)
        {
            nuint half = n >> 1;
            lo = keys[lo + half] <= gfn ? lo + half : lo;
            n -= half;
        }
        SlotEntry* e = s->Entries + lo;
        return gfn - e->BaseGfn < e->NPages ? e : null;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Fill(Snapshot* s, SlotEntry* e, ulong gfn, HvrtTranslation* t)
    {
        ulong offset = gfn - e->BaseGfn;
        uint f = e->KvmFlags;
        t->Slot = e->Slot;
        t->Flags = ((f & 2) != 0 ? HvrtTranslation.FlagReadonly : 0)
                 | ((f & 1) != 0 ? HvrtTranslation.FlagLogDirty : 0)
                 | ((f & 4) != 0 ? HvrtTranslation.FlagHasPrivate : 0);
        t->BaseGfn = e->BaseGfn;
        t->NPages = e->NPages;
        t->Hva = e->Hva + (offset << 12);
        t->PrivatePgoff = (f & 4) != 0 ? e->PrivatePgoff + offset : 0;
        t->PrivateFd = e->PrivateFd;
        t->Reserved = 0;
        t->RunPages = e->NPages - offset;
        t->Generation = s->Generation;
    }
}
