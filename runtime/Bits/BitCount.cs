using System.Diagnostics;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Hvrt.Bits;

/// <summary>
/// Popcount of a range. The middle uses the nibble lookup (PSHUFB + PSADBW, Mula's method) on
/// every vector path (x86-64-v3 has no vector popcount and .NET 10 exposes no VPOPCNTQ), behind
/// Harley-Seal carry-save adders on the 256 path, the one the .so runs. No overlapping last vector here (it would count words twice): the tail is scalar.
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
            i = n & ~(nuint)(HarleySealWords - 1);
            total = i != 0 ? CountHarleySeal256(p, i) : 0;
            total += CountNibbles256(p + i, (n - i) & ~(nuint)3);
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

    // Harley-Seal (Muła, Kurz, Lemire, "Faster population counts using AVX2 instructions"):
    // carry-save adders fold 16 vectors into one of "sixteens" and only that one goes through
    // the nibble lookup, so the shuffle pipes stop being the limit. Measured 2026-11-25 (JIT, Zen 4):
    // 57 against 50-52 GB/s for the lookup alone on 128 KiB (in L2); equal (~35 GB/s) on 32 MiB,
    // where both stay below the OR-reduction (BitsBench, bench/RESULTS.md).
    private const int HarleySealWords = 16 * 4;

    private static ulong CountHarleySeal256(ulong* p, nuint n)
    {
        Debug.Assert(n % HarleySealWords == 0, "whole blocks only");
        Vector256<ulong> total = Vector256<ulong>.Zero;
        Vector256<ulong> ones = Vector256<ulong>.Zero, twos = Vector256<ulong>.Zero;
        Vector256<ulong> fours = Vector256<ulong>.Zero, eights = Vector256<ulong>.Zero;
        for (nuint i = 0; i < n; i += HarleySealWords)
        {
            ulong* q = p + i;
            Csa(out Vector256<ulong> twosA, ref ones, Vector256.Load(q), Vector256.Load(q + 4));
            Csa(out Vector256<ulong> twosB, ref ones, Vector256.Load(q + 8), Vector256.Load(q + 12));
            Csa(out Vector256<ulong> foursA, ref twos, twosA, twosB);
            Csa(out twosA, ref ones, Vector256.Load(q + 16), Vector256.Load(q + 20));
            Csa(out twosB, ref ones, Vector256.Load(q + 24), Vector256.Load(q + 28));
            Csa(out Vector256<ulong> foursB, ref twos, twosA, twosB);
            Csa(out Vector256<ulong> eightsA, ref fours, foursA, foursB);
            Csa(out twosA, ref ones, Vector256.Load(q + 32), Vector256.Load(q + 36));
            Csa(out twosB, ref ones, Vector256.Load(q + 40), Vector256.Load(q + 44));
            Csa(out foursA, ref twos, twosA, twosB);
            Csa(out twosA, ref ones, Vector256.Load(q + 48), Vector256.Load(q + 52));
            Csa(out twosB, ref ones, Vector256.Load(q + 56), Vector256.Load(q + 60));
            Csa(out foursB, ref twos, twosA, twosB);
            Csa(out Vector256<ulong> eightsB, ref fours, foursA, foursB);
            Csa(out Vector256<ulong> sixteens, ref eights, eightsA, eightsB);
            total += PopCount256(sixteens);
        }
        total = (total << 4) + (PopCount256(eights) << 3) + (PopCount256(fours) << 2) + (PopCount256(twos) << 1) + PopCount256(ones);
        return Vector256.Sum(total);
    }

    /// <summary>Carry-save adder: low + a + b = 2 * high + low'.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Csa(out Vector256<ulong> high, ref Vector256<ulong> low, Vector256<ulong> a, Vector256<ulong> b)
    {
        Vector256<ulong> u = low ^ a;
        high = (low & a) | (u & b);
        low = u ^ b;
    }

    /// <summary>Per-lane popcount of one vector (nibble lookup, then PSADBW into the 4 lanes).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<ulong> PopCount256(Vector256<ulong> v)
    {
        Vector256<byte> lut = Vector256.Create((byte)0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4,
            0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
        Vector256<byte> low = Vector256.Create((byte)0x0F);
        Vector256<byte> b = v.AsByte();
        Vector256<byte> counts = Avx2.Shuffle(lut, b & low) + Avx2.Shuffle(lut, Vector256.ShiftRightLogical(v.AsUInt16(), 4).AsByte() & low);
        return Avx2.SumAbsoluteDifferences(counts, Vector256<byte>.Zero).AsUInt64();
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
