using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Hvrt.Bits;

/// <summary>
/// Set/clear a range: read-modify-write of the partial first and last words, vector stores of a
/// constant over the whole words between them. With N = Negate the body clears: ~(~w | mask) = w &amp; ~mask.
/// </summary>
internal static unsafe class BitFill
{
    // SAFETY: map must cover the words holding bits [start, start + count).
    public static void Fill<N>(ulong* map, ulong start, ulong count, BitPath path)
        where N : struct, INegator
    {
        if (count == 0)
        {
            return;
        }
        ulong end = start + count;
        ulong first = start >> 6;
        ulong last = (end - 1) >> 6;
        if (first == last)
        {
            Apply<N>(map + first, WordMasks.From(start) & WordMasks.Through(end - 1));
            return;
        }
        Apply<N>(map + first, WordMasks.From(start));
        FillWords(map + first + 1, (nuint)(last - first - 1), N.NegateIfNeeded(ulong.MaxValue), path);
        Apply<N>(map + last, WordMasks.Through(end - 1));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Apply<N>(ulong* w, ulong mask)
        where N : struct, INegator
        => *w = N.NegateIfNeeded(N.NegateIfNeeded(*w) | mask);

    /// <summary>Stores value into n words: 4 vectors per step, then one, then an overlapping last one.</summary>
    public static void FillWords(ulong* p, nuint n, ulong value, BitPath path)
    {
        if (path >= BitPath.V512 && Vector512.IsHardwareAccelerated && n >= (nuint)Vector512<ulong>.Count)
        {
            const int C = 8;
            Vector512<ulong> v = Vector512.Create(value);
            nuint i = 0;
            for (; i + 4 * C <= n; i += 4 * C)
            {
                v.Store(p + i);
                v.Store(p + i + C);
                v.Store(p + i + 2 * C);
                v.Store(p + i + 3 * C);
            }
            nuint oneVectorAwayFromEnd = n - C;
            for (; i <= oneVectorAwayFromEnd; i += C)
            {
                v.Store(p + i);
            }
            if (i != n)
            {
                v.Store(p + oneVectorAwayFromEnd);
            }
            return;
        }
        if (path >= BitPath.V256 && Vector256.IsHardwareAccelerated && n >= (nuint)Vector256<ulong>.Count)
        {
            const int C = 4;
            Vector256<ulong> v = Vector256.Create(value);
            nuint i = 0;
            for (; i + 4 * C <= n; i += 4 * C)
            {
                v.Store(p + i);
                v.Store(p + i + C);
                v.Store(p + i + 2 * C);
                v.Store(p + i + 3 * C);
            }
            nuint oneVectorAwayFromEnd = n - C;
            for (; i <= oneVectorAwayFromEnd; i += C)
            {
                v.Store(p + i);
            }
            if (i != n)
            {
                v.Store(p + oneVectorAwayFromEnd);
            }
            return;
        }
        if (path >= BitPath.V128 && Vector128.IsHardwareAccelerated && n >= (nuint)Vector128<ulong>.Count)
        {
            const int C = 2;
            Vector128<ulong> v = Vector128.Create(value);
            nuint i = 0;
            for (; i + 4 * C <= n; i += 4 * C)
            {
                v.Store(p + i);
                v.Store(p + i + C);
                v.Store(p + i + 2 * C);
                v.Store(p + i + 3 * C);
            }
            nuint oneVectorAwayFromEnd = n - C;
            for (; i <= oneVectorAwayFromEnd; i += C)
            {
                v.Store(p + i);
            }
            if (i != n)
            {
                v.Store(p + oneVectorAwayFromEnd);
            }
            return;
        }
        for (nuint i = 0; i < n; i++)
        {
            p[i] = value;
        }
    }
}
