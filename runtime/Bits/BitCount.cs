using System.Numerics;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Hvrt.Bits;

/// <summary>
/// Popcount of a range. The middle uses the nibble lookup (PSHUFB + PSADBW, Mula's method) on
/// every vector path: x86-64-v3 has no vector popcount and .NET 10 exposes no VPOPCNTQ. No overlapping last vector here (it would count words twice): the tail is scalar.
/// </summary>
internal static unsafe class BitCount
{
    // SAFETY: map must cover the words holding bits [start, end).
    public static ulong Count(ulong* map, ulong start, ulong end, BitPath path)
    {
        if (start >= end)
        {
            return 0;
        }
        ulong first = start >> 6;
        ulong last = (end - 1) >> 6;
        if (first == last)
        {
            return (ulong)BitOperations.PopCount(map[first] & WordMasks.From(start) & WordMasks.Through(end - 1));
        }
        return (ulong)BitOperations.PopCount(map[first] & WordMasks.From(start))
            + CountWords(map + first + 1, (nuint)(last - first - 1), path)
            + (ulong)BitOperations.PopCount(map[last] & WordMasks.Through(end - 1));
    }

    public static ulong CountWords(ulong* p, nuint n, BitPath path)
    {
        nuint i = 0;
        ulong total = 0;
        if (path >= BitPath.V512 && Avx512BW.IsSupported && n >= 8)
        {
            total = CountNibbles512(p, n & ~(nuint)7);
            i = n & ~(nuint)7;
        }
        else if (path >= BitPath.V256 && Avx2.IsSupported && n >= 4)
        {
            total = CountNibbles256(p, n & ~(nuint)3);
            i = n & ~(nuint)3;
        }
        else if (path >= BitPath.V128 && Ssse3.IsSupported && n >= 2)
        {
            total = CountNibbles128(p, n & ~(nuint)1);
            i = n & ~(nuint)1;
        }
        for (; i < n; i++)
        {
            total += (ulong)BitOperations.PopCount(p[i]);
        }
        return total;
    }

    // Byte counts (≤ 8 per byte per vector) are summed for up to 31 vectors before PSADBW widens
    // them, so the widening is off the per-vector path; 8 keeps it simple and far from overflow.
    private const int BlockVectors = 8;

    private static ulong CountNibbles512(ulong* p, nuint n)
    {
        // PSHUFB works within each 128-bit lane, so the 16-entry table is repeated in all four.
        Vector256<byte> half = Vector256.Create((byte)0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4,
            0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
        Vector512<byte> lut = Vector512.Create(half, half);
        Vector512<byte> low = Vector512.Create((byte)0x0F);
        Vector512<ulong> acc = Vector512<ulong>.Zero;
        nuint i = 0;
        while (i < n)
        {
            Vector512<byte> bytes = Vector512<byte>.Zero;
            nuint blockEnd = i + 8 * BlockVectors <= n ? i + 8 * BlockVectors : n;
            for (; i < blockEnd; i += 8)
            {
                Vector512<byte> v = Vector512.Load(p + i).AsByte();
                bytes += Avx512BW.Shuffle(lut, v & low) + Avx512BW.Shuffle(lut, Vector512.ShiftRightLogical(v.AsUInt16(), 4).AsByte() & low);
            }
            acc += Avx512BW.SumAbsoluteDifferences(bytes, Vector512<byte>.Zero).AsUInt64();
        }
        return Vector512.Sum(acc);
    }

    private static ulong CountNibbles256(ulong* p, nuint n)
    {
        Vector256<byte> lut = Vector256.Create((byte)0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4,
            0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
        Vector256<byte> low = Vector256.Create((byte)0x0F);
        Vector256<ulong> acc = Vector256<ulong>.Zero;
        nuint i = 0;
        while (i < n)
        {
            Vector256<byte> bytes = Vector256<byte>.Zero;
            nuint blockEnd = i + 4 * BlockVectors <= n ? i + 4 * BlockVectors : n;
            for (; i < blockEnd; i += 4)
            {
                Vector256<byte> v = Vector256.Load(p + i).AsByte();
                bytes += Avx2.Shuffle(lut, v & low) + Avx2.Shuffle(lut, Vector256.ShiftRightLogical(v.AsUInt16(), 4).AsByte() & low);
            }
            acc += Avx2.SumAbsoluteDifferences(bytes, Vector256<byte>.Zero).AsUInt64();
        }
        return Vector256.Sum(acc);
    }

    private static ulong CountNibbles128(ulong* p, nuint n)
    {
        Vector128<byte> lut = Vector128.Create((byte)0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
        Vector128<byte> low = Vector128.Create((byte)0x0F);
        Vector128<ulong> acc = Vector128<ulong>.Zero;
        nuint i = 0;
        while (i < n)
        {
            Vector128<byte> bytes = Vector128<byte>.Zero;
            nuint blockEnd = i + 2 * BlockVectors <= n ? i + 2 * BlockVectors : n;
            for (; i < blockEnd; i += 2)
            {
                Vector128<byte> v = Vector128.Load(p + i).AsByte();
                bytes += Ssse3.Shuffle(lut, v & low) + Ssse3.Shuffle(lut, Vector128.ShiftRightLogical(v.AsUInt16(), 4).AsByte() & low);
            }
            acc += Sse2.SumAbsoluteDifferences(bytes, Vector128<byte>.Zero).AsUInt64();
        }
        return Vector128.Sum(acc);
    }
}
