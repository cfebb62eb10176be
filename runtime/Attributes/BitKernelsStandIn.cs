namespace Hvrt.Bits;

/// <summary>
/// Scalar stand-in for the SIMD kernels of branch `bits` (same names and semantics: bit i is bit
/// i % 64 of word i / 64). Deleted when that branch is merged.
/// </summary>
internal static unsafe class BitKernels
{
    public static void SetRange(ulong* map, ulong start, ulong count)
    {
        for (ulong i = start; i < start + count; i++)
        {
            map[i >> 6] |= 1UL << (int)(i & 63);
        }
    }

    public static void ClearRange(ulong* map, ulong start, ulong count)
    {
        for (ulong i = start; i < start + count; i++)
        {
            map[i >> 6] &= ~(1UL << (int)(i & 63));
        }
    }

    public static ulong FindNextSet(ulong* map, ulong start, ulong end)
    {
        for (ulong i = start; i < end; i++)
        {
            if ((map[i >> 6] >> (int)(i & 63) & 1) != 0)
            {
                return i;
            }
        }
        return end;
    }

    public static ulong FindNextClear(ulong* map, ulong start, ulong end)
    {
        for (ulong i = start; i < end; i++)
        {
            if ((map[i >> 6] >> (int)(i & 63) & 1) == 0)
            {
                return i;
            }
        }
        return end;
    }

    public static ulong Count(ulong* map, ulong start, ulong end)
    {
        ulong n = 0;
        for (ulong i = start; i < end; i++)
        {
            n += map[i >> 6] >> (int)(i & 63) & 1;
        }
        return n;
    }

    public static bool AllEqual(ulong* map, ulong start, ulong end, bool value)
        => (value ? FindNextClear(map, start, end) : FindNextSet(map, start, end)) == end;
}
