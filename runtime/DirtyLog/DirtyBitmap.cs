using System;
using System.Runtime.Intrinsics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading;
using Hvrt.Bits;
using Hvrt.Memory;
using Hvrt.Sync;

namespace Hvrt.DirtyLog;

/// <summary>
/// One slot's dirty bitmap (KVM's memslot->dirty_bitmap): a 64-byte header, then two arrays of
/// ALIGN(npages, 64) / 8 bytes of little-endian words, bit i = page i of the slot. Markers write
/// the active array; the other (the spare) is all zero. A get-and-clear swaps them, waits until
/// no marker can still hold the old one (a read-section grace period, as for snapshots) and then
/// owns the old array alone: it copies and zeroes it with plain vector loads and stores, where
/// an in-place harvest needs an atomic exchange per non-zero word (KVM's loop; ~2.5 ns per word
/// here, all of a 64 GiB slot's 262,144 words at 10 % dirty pages). The header lets a lock-free
/// marker holding a possibly stale slot entry check that the bitmap belongs to a slot of that
/// size and host address before it writes (a slot deleted and re-created in one batch reuses the
/// table cell), and tells a use-after-free apart (the magic is poisoned on free). Bits past
/// npages are never set, so a word-wise copy reports nothing beyond the slot.
/// </summary>
[StructLayout(LayoutKind.Sequential, Size = 64)]
internal unsafe struct DirtyBitmap
{
    /// <summary>"hvrt-dlg"; NativeAlloc's poison overwrites it on free.</summary>
    public const ulong LiveMagic = 0x676c642d74727668;

    public ulong Magic;
    public ulong NPages;
    public ulong Hva;
    public ulong Words;

    /// <summary>The writer's list of retired bitmaps waiting for a grace period (markers never read it).</summary>
    public DirtyBitmap* NextRetired;

    /// <summary>The array markers write (release-published by the writer's swap).</summary>
    public ulong* Active;

    /// <summary>The other array: all zero, or the caller's current view (<see cref="SpareIsView"/>); only the writer touches it.</summary>
    public ulong* Spare;

    /// <summary>1 while <see cref="Spare"/> is the array handed out by the last get_view (not zero).</summary>
    public ulong SpareIsView;

    private static long s_deadSeen;

    /// <summary>Markers that found a freed (poisoned) bitmap: always 0 unless the grace period is broken (tests).</summary>
    public static long DeadSeen => Volatile.Read(ref s_deadSeen);

    /// <summary>The active array (acquire: a marker that sees a swapped pointer sees the zeroed array behind it).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong* Map(DirtyBitmap* b) => (ulong*)Volatile.Read(ref *(nint*)&b->Active);

    /// <summary>KVM's kvm_dirty_bitmap_bytes: ALIGN(npages, 64) / 8.</summary>
    public static ulong BytesFor(ulong npages) => ((npages + 63) >> 6) << 3;

    /// <summary>A clear bitmap (all npages bits set with <paramref name="allSet"/>), or null when out of memory.</summary>
    public static DirtyBitmap* Alloc(ulong npages, ulong hva, bool allSet)
    {
        ulong bytes = BytesFor(npages);
        var b = (DirtyBitmap*)NativeAlloc.Alloc((nuint)(2 * bytes + (ulong)sizeof(DirtyBitmap)));
        if (b == null)
        {
            return null;
        }
        b->NPages = npages;
        b->Hva = hva;
        b->Words = bytes >> 3;
        b->Active = (ulong*)(b + 1);
        b->Spare = b->Active + b->Words;
        if (allSet)
        {
            BitKernels.SetRange(Map(b), 0, npages);
        }
        // Published to markers by the table's release store, after these.
        b->Magic = LiveMagic;
        return b;
    }

    public static void Free(DirtyBitmap* b)
    {
        if (b != null)
        {
            NativeAlloc.Free(b, (nuint)(b->Words * 16 + (ulong)sizeof(DirtyBitmap)));
        }
    }

    /// <summary>Whether a marker holding a slot entry (npages, hva) may write into b; counts poisoned headers.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Belongs(DirtyBitmap* b, ulong npages, ulong hva)
    {
        if (b->Magic != LiveMagic)
        {
            Interlocked.Increment(ref s_deadSeen);
            return false;
        }
        return b->NPages == npages && b->Hva == hva;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void CheckLive(DirtyBitmap* b)
    {
        if (Volatile.Read(ref b->Magic) != LiveMagic)
        {
            Interlocked.Increment(ref s_deadSeen);
        }
    }

    /// <summary>
    /// Sets bits [first, first + count) (inside the slot) with one atomic OR per word, skipping
    /// words that already hold the bits: a repeated mark of a hot page then only reads the line.
    /// </summary>
    public static void MarkRange(DirtyBitmap* b, ulong first, ulong count)
    {
        ulong* map = Map(b);
        ulong end = first + count;
        ulong w = first >> 6;
        ulong lastWord = (end - 1) >> 6;
        for (; w <= lastWord; w++)
        {
            ulong lo = w == first >> 6 ? first & 63 : 0;
            ulong hi = w == lastWord ? ((end - 1) & 63) + 1 : 64;
            ulong mask = (hi - lo == 64 ? ulong.MaxValue : ((1UL << (int)(hi - lo)) - 1)) << (int)lo;
            if ((Volatile.Read(ref map[w]) & mask) != mask)
            {
                Interlocked.Or(ref map[w], mask);
            }
        }
    }

    /// <summary>
    /// Get-and-clear (writer, under the VM lock): swaps the arrays, waits until no marker can still
    /// write the old one, then copies it to output (ORed with <paramref name="extra"/>, KVM's
    /// harvest, when not null) and zeroes it, so it becomes the spare. A mark concurrent with the
    /// call lands in this copy (old array) or in the next (new one), never in neither.
    /// </summary>
    public static void SwapAndDrain(DirtyBitmap* b, ulong* output, ulong* extra)
    {
        ZeroSpare(b);
        ulong* old = b->Active;
        Volatile.Write(ref *(nint*)&b->Active, (nint)b->Spare);
        b->Spare = old;
        ReadSection.Synchronize();
        DrainWords(old, output, extra, b->Words, BitPaths.Selected);
    }

    /// <summary>
    /// Get-and-clear without a copy (writer, under the VM lock): the previous view is zeroed, the
    /// arrays are swapped and, after the grace period, the old active array (ORed with
    /// <paramref name="extra"/>) is the new view, returned; it stays as it is until the next call.
    /// </summary>
    public static ulong* SwapForView(DirtyBitmap* b, ulong* extra)
    {
        ZeroSpare(b);
        ulong* old = b->Active;
        Volatile.Write(ref *(nint*)&b->Active, (nint)b->Spare);
        b->Spare = old;
        ReadSection.Synchronize();
        if (extra != null)
        {
            DrainWords(extra, old, old, b->Words, BitPaths.Selected);
        }
        b->SpareIsView = 1;
        return old;
    }

    /// <summary>Manual protection: the view is a copy of the log (which stays set), made into the spare array.</summary>
    public static ulong* CopyForView(DirtyBitmap* b)
    {
        ulong bytes = b->Words << 3;
        Buffer.MemoryCopy(Map(b), b->Spare, bytes, bytes);
        b->SpareIsView = 1;
        return b->Spare;
    }

    /// <summary>Restores the invariant "the spare is clear" after a view was handed out.</summary>
    private static void ZeroSpare(DirtyBitmap* b)
    {
        if (b->SpareIsView != 0)
        {
            NativeMemory.Clear(b->Spare, (nuint)(b->Words << 3));
            b->SpareIsView = 0;
        }
    }

    /// <summary>
    /// output[i] = from[i] | extra[i] (extra may be null), then from[i] = 0; from is the writer's
    /// alone. With output == extra (the view's harvest merge) it ORs from into output in place.
    /// </summary>
    internal static void DrainWords(ulong* from, ulong* output, ulong* extra, ulong words, BitPath path)
    {
        ulong w = 0;
        if (path >= BitPath.V256 && Vector256.IsHardwareAccelerated)
        {
            // Every vector of from is zeroed, clean or not: a branch to skip the store of a clean
            // one mispredicts at sparse densities (a fifth of the vectors dirty at random at 0.1 %)
            // and cost 3x more than the stores it saved (measured: 182 against 58 us; a pointer
            // select to a dummy line did not become a cmov).
            for (; w + 4 <= words; w += 4)
            {
                Vector256<ulong> v = Vector256.Load(from + w);
                Vector256<ulong> o = extra == null ? v : v | Vector256.Load(extra + w);
                o.Store(output + w);
                Vector256<ulong>.Zero.Store(from + w);
            }
        }
        for (; w < words; w++)
        {
            ulong v = from[w];
            output[w] = extra == null ? v : v | extra[w];
            if (v != 0)
            {
                from[w] = 0;
            }
        }
    }

    /// <summary>A plain copy (manual protection: GET does not clear).</summary>
    public static void CopyTo(DirtyBitmap* b, ulong* output)
    {
        ulong bytes = b->Words << 3;
        Buffer.MemoryCopy(Map(b), output, bytes, bytes);
    }

    /// <summary>ORs words[0 .. Words) into the bitmap (a harvest from KVM), atomically per non-zero word.</summary>
    public static void Merge(DirtyBitmap* b, ulong* words)
    {
        ulong* map = Map(b);
        ulong n = b->Words;
        for (ulong w = BitKernels.FindNextSet(words, 0, n << 6) >> 6; w < n; w = BitKernels.FindNextSet(words, (w + 1) << 6, n << 6) >> 6)
        {
            Interlocked.Or(ref map[w], words[w]);
        }
    }

    /// <summary>KVM_CLEAR_DIRTY_LOG on hvrt's side: clears the bits of mask (words from word firstWord on).</summary>
    public static void ClearMasked(DirtyBitmap* b, ulong firstWord, ulong* mask, ulong nwords)
    {
        ulong* map = Map(b);
        for (ulong i = 0; i < nwords; i++)
        {
            ulong m = mask[i];
            if (m != 0)
            {
                Interlocked.And(ref map[firstWord + i], ~m);
            }
        }
    }
}
