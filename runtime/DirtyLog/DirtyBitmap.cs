using System;
using System.Numerics;
using System.Runtime.Intrinsics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading;
using Hvrt.Bits;
using Hvrt.Memory;

namespace Hvrt.DirtyLog;

/// <summary>
/// One slot's dirty bitmap (KVM's memslot->dirty_bitmap): a 64-byte header, then
/// ALIGN(npages, 64) / 8 bytes of little-endian words, bit i = page i of the slot. The header
/// lets a lock-free marker holding a possibly stale slot entry check that the bitmap belongs to
/// a slot of that size and host address before it writes (a slot deleted and re-created in one
/// batch reuses the table cell), and tells a use-after-free apart (the magic is poisoned on free).
/// Bits past npages are never set, so a word-wise copy reports nothing beyond the slot.
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

    private static long s_deadSeen;

    /// <summary>Markers that found a freed (poisoned) bitmap: always 0 unless the grace period is broken (tests).</summary>
    public static long DeadSeen => Volatile.Read(ref s_deadSeen);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong* Map(DirtyBitmap* b) => (ulong*)(b + 1);

    /// <summary>KVM's kvm_dirty_bitmap_bytes: ALIGN(npages, 64) / 8.</summary>
    public static ulong BytesFor(ulong npages) => ((npages + 63) >> 6) << 3;

    /// <summary>A clear bitmap (all npages bits set with <paramref name="allSet"/>), or null when out of memory.</summary>
    public static DirtyBitmap* Alloc(ulong npages, ulong hva, bool allSet)
    {
        ulong bytes = BytesFor(npages);
        var b = (DirtyBitmap*)NativeAlloc.Alloc((nuint)(bytes + (ulong)sizeof(DirtyBitmap)));
        if (b == null)
        {
            return null;
        }
        b->NPages = npages;
        b->Hva = hva;
        b->Words = bytes >> 3;
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
            NativeAlloc.Free(b, (nuint)(b->Words * 8 + (ulong)sizeof(DirtyBitmap)));
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
    /// Copies the bitmap to output and clears what it copied, each non-zero word fetched and
    /// cleared with one exchange (a concurrent mark lands in this copy or the next). Works in
    /// blocks of 8 words (one cache line): a clean block costs two vector loads and stores; in a
    /// dirty one only the non-zero words are exchanged, found from a vector compare mask, so no
    /// branch depends on each word (measured: test-and-exchange per word, KVM's loop, loses to
    /// exchanging every word at 1% dirty pages through mispredictions). A clean run longer than
    /// two blocks is skipped with the SIMD scan (BitKernels.FindNextSet), so a mostly clean
    /// bitmap costs a read at memory bandwidth and a memset.
    /// </summary>
    public static void FetchAndClear(DirtyBitmap* b, ulong* output)
    {
        ulong* map = Map(b);
        ulong words = b->Words;
        ulong w = 0;
        int cleanBlocks = 0;
        while (w + 8 <= words)
        {
            // Plain vector loads are fine: a word seen as zero that a marker sets right after
            // is reported by the next get, exactly as if the mark had come after this one.
            Vector256<ulong> lo = Vector256.Load(map + w), hi = Vector256.Load(map + w + 4);
            uint nonZero = ~(Vector256.Equals(lo, Vector256<ulong>.Zero).ExtractMostSignificantBits()
                | Vector256.Equals(hi, Vector256<ulong>.Zero).ExtractMostSignificantBits() << 4) & 0xff;
            Vector256<ulong>.Zero.Store(output + w);
            Vector256<ulong>.Zero.Store(output + w + 4);
            if (nonZero == 0)
            {
                w += 8;
                if (++cleanBlocks >= 2)
                {
                    // A long clean run: find its end at scan speed, in whole blocks.
                    ulong next = (BitKernels.FindNextSet(map, w << 6, words << 6) >> 6) & ~7UL;
                    if (next > w)
                    {
                        NativeMemory.Clear(output + w, (nuint)((next - w) << 3));
                        w = next;
                    }
                    cleanBlocks = 0;
                }
                continue;
            }
            cleanBlocks = 0;
            do
            {
                int i = BitOperations.TrailingZeroCount(nonZero);
                output[w + (ulong)i] = Interlocked.Exchange(ref map[w + (ulong)i], 0);
                nonZero &= nonZero - 1;
            }
            while (nonZero != 0);
            w += 8;
        }
        for (; w < words; w++)
        {
            output[w] = Volatile.Read(ref map[w]) != 0 ? Interlocked.Exchange(ref map[w], 0) : 0;
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
