using System.Diagnostics;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Hvrt.Bits;

/// <summary>
/// Find-next-bit: partial first word, whole-word middle (vectors), partial last word. Only words
/// holding a bit of [start, end) are read, so a range that ends at the end of a mapping never
/// touches the page after it.
/// </summary>
internal static unsafe class BitScan
{
    /// <summary>First index in [start, end) whose bit (negated by N) is set, or end.</summary>
    // SAFETY: map must cover the words holding bits [start, end).
    public static ulong FindNext<N>(ulong* map, ulong start, ulong end, BitPath path)
        where N : struct, INegator
    {
        if (start >= end)
        {
            return end;
        }
        ulong first = start >> 6;
        ulong last = (end - 1) >> 6;
        ulong w = N.NegateIfNeeded(map[first]) & WordMasks.From(start);
        if (first == last)
        {
            w &= WordMasks.Through(end - 1);
            return w != 0 ? (first << 6) + (ulong)BitOperations.TrailingZeroCount(w) : end;
        }
        if (w != 0)
        {
            return (first << 6) + (ulong)BitOperations.TrailingZeroCount(w);
        }
        nuint middle = (nuint)(last - first - 1);
        ulong* p = map + first + 1;
        nuint i = FirstNonEmpty<N>(p, middle, path);
        if (i < middle)
        {
            return ((first + 1 + i) << 6) + (ulong)BitOperations.TrailingZeroCount(N.NegateIfNeeded(p[i]));
        }
        w = N.NegateIfNeeded(map[last]) & WordMasks.Through(end - 1);
        return w != 0 ? (last << 6) + (ulong)BitOperations.TrailingZeroCount(w) : end;
    }

    /// <summary>Index of the first of n words that is non-zero after N, or n.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static nuint FirstNonEmpty<N>(ulong* p, nuint n, BitPath path)
        where N : struct, INegator
    {
        if (path >= BitPath.V512 && Vector512.IsHardwareAccelerated && n >= (nuint)Vector512<ulong>.Count)
        {
            return FirstNonEmpty512<N>(p, n);
        }
        if (path >= BitPath.V256 && Vector256.IsHardwareAccelerated && n >= (nuint)Vector256<ulong>.Count)
        {
            return FirstNonEmpty256<N>(p, n);
        }
        if (path >= BitPath.V128 && Vector128.IsHardwareAccelerated && n >= (nuint)Vector128<ulong>.Count)
        {
            return FirstNonEmpty128<N>(p, n);
        }
        for (nuint i = 0; i < n; i++)
        {
            if (N.NegateIfNeeded(p[i]) != 0)
            {
                return i;
            }
        }
        return n;
    }

    // Each width: four vectors OR-ed per test while far from the end (the OR-reduction's shape, so
    // a scan of an empty map runs at read bandwidth; BitsBench), then one vector at a time, then an
    // overlapping last vector (the words it re-reads are known empty).
    private static nuint FirstNonEmpty512<N>(ulong* p, nuint n)
        where N : struct, INegator
    {
        const int C = 8;
        Debug.Assert(n >= C, "caller checks the length");
        nuint i = 0;
        for (; i + 4 * C <= n; i += 4 * C)
        {
            Vector512<ulong> any = N.AnyOf(Vector512.Load(p + i), Vector512.Load(p + i + C), Vector512.Load(p + i + 2 * C), Vector512.Load(p + i + 3 * C));
            if (any != Vector512<ulong>.Zero)
            {
                break;
            }
        }
        nuint oneVectorAwayFromEnd = n - C;
        for (; i <= oneVectorAwayFromEnd; i += C)
        {
            Vector512<ulong> v = N.NegateIfNeeded(Vector512.Load(p + i));
            if (v != Vector512<ulong>.Zero)
            {
                return i + WordMasks.ComputeFirstIndex(v);
            }
        }
        if (i != n)
        {
            Vector512<ulong> v = N.NegateIfNeeded(Vector512.Load(p + oneVectorAwayFromEnd));
            if (v != Vector512<ulong>.Zero)
            {
                return oneVectorAwayFromEnd + WordMasks.ComputeFirstIndex(v);
            }
        }
        return n;
    }

    private static nuint FirstNonEmpty256<N>(ulong* p, nuint n)
        where N : struct, INegator
    {
        const int C = 4;
        Debug.Assert(n >= C, "caller checks the length");
        nuint i = 0;
        for (; i + 4 * C <= n; i += 4 * C)
        {
            Vector256<ulong> any = N.AnyOf(Vector256.Load(p + i), Vector256.Load(p + i + C), Vector256.Load(p + i + 2 * C), Vector256.Load(p + i + 3 * C));
            if (any != Vector256<ulong>.Zero)
            {
                break;
            }
        }
        nuint oneVectorAwayFromEnd = n - C;
        for (; i <= oneVectorAwayFromEnd; i += C)
        {
            Vector256<ulong> v = N.NegateIfNeeded(Vector256.Load(p + i));
            if (v != Vector256<ulong>.Zero)
            {
                return i + WordMasks.ComputeFirstIndex(v);
            }
        }
        if (i != n)
        {
            Vector256<ulong> v = N.NegateIfNeeded(Vector256.Load(p + oneVectorAwayFromEnd));
            if (v != Vector256<ulong>.Zero)
            {
                return oneVectorAwayFromEnd + WordMasks.ComputeFirstIndex(v);
            }
        }
        return n;
    }

    private static nuint FirstNonEmpty128<N>(ulong* p, nuint n)
        where N : struct, INegator
    {
        const int C = 2;
        Debug.Assert(n >= C, "caller checks the length");
        nuint i = 0;
        for (; i + 4 * C <= n; i += 4 * C)
        {
            Vector128<ulong> any = N.AnyOf(Vector128.Load(p + i), Vector128.Load(p + i + C), Vector128.Load(p + i + 2 * C), Vector128.Load(p + i + 3 * C));
            if (any != Vector128<ulong>.Zero)
            {
                break;
            }
        }
        nuint oneVectorAwayFromEnd = n - C;
        for (; i <= oneVectorAwayFromEnd; i += C)
        {
            Vector128<ulong> v = N.NegateIfNeeded(Vector128.Load(p + i));
            if (v != Vector128<ulong>.Zero)
            {
                return i + WordMasks.ComputeFirstIndex(v);
            }
        }
        if (i != n)
        {
            Vector128<ulong> v = N.NegateIfNeeded(Vector128.Load(p + oneVectorAwayFromEnd));
            if (v != Vector128<ulong>.Zero)
            {
                return oneVectorAwayFromEnd + WordMasks.ComputeFirstIndex(v);
            }
        }
        return n;
    }
}
