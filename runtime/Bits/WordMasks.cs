using System.Diagnostics;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Hvrt.Bits;

/// <summary>Masks for partial words, and the one helper that turns a vector mask into a word index.</summary>
internal static class WordMasks
{
    /// <summary>Bits [bit, 64) of a word.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong From(ulong bit) => ulong.MaxValue << (int)(bit & 63);

    /// <summary>Bits [0, bit] of a word (inclusive, so the last bit of a range needs no special case).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Through(ulong bit) => ulong.MaxValue >> (int)(63 - (bit & 63));

    /// <summary>Index of the first non-zero lane of a vector known to have one.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static nuint ComputeFirstIndex(Vector128<ulong> v)
    {
        uint mask = ~Vector128.Equals(v, Vector128<ulong>.Zero).ExtractMostSignificantBits() & 0b11;
        Debug.Assert(mask != 0, "vector has no non-zero lane");
        return (nuint)BitOperations.TrailingZeroCount(mask);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static nuint ComputeFirstIndex(Vector256<ulong> v)
    {
        uint mask = ~Vector256.Equals(v, Vector256<ulong>.Zero).ExtractMostSignificantBits() & 0b1111;
        Debug.Assert(mask != 0, "vector has no non-zero lane");
        return (nuint)BitOperations.TrailingZeroCount(mask);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static nuint ComputeFirstIndex(Vector512<ulong> v)
    {
        ulong mask = ~Vector512.Equals(v, Vector512<ulong>.Zero).ExtractMostSignificantBits() & 0xFF;
        Debug.Assert(mask != 0, "vector has no non-zero lane");
        return (nuint)BitOperations.TrailingZeroCount(mask);
    }
}
