namespace Hvrt.Bits;

/// <summary>
/// Bit kernels over unmanaged bitmaps (bit i = bit i % 64 of word i / 64), on the path chosen at
/// start-up (BitPaths.Selected). Allocation-free; no exceptions on valid input. Ranges are
/// half-open [start, end); every word holding a bit of the range must be readable (and writable
/// for Set/ClearRange), and nothing outside those words is touched.
/// </summary>
internal static unsafe class BitKernels
{
    /// <summary>The kernels on path p (or the best supported path below it): lets tests and benchmarks force each path.</summary>
    public static BitOps ForPath(BitPath p) => new(BitPaths.Clamp(p));

    public static void SetRange(ulong* map, ulong start, ulong count) => BitFill.Fill<DontNegate>(map, start, count, BitPaths.Selected);

    public static void ClearRange(ulong* map, ulong start, ulong count) => BitFill.Fill<Negate>(map, start, count, BitPaths.Selected);

    /// <summary>First set bit in [start, end), or end.</summary>
    public static ulong FindNextSet(ulong* map, ulong start, ulong end) => BitScan.FindNext<DontNegate>(map, start, end, BitPaths.Selected);

    /// <summary>First clear bit in [start, end), or end.</summary>
    public static ulong FindNextClear(ulong* map, ulong start, ulong end) => BitScan.FindNext<Negate>(map, start, end, BitPaths.Selected);

    /// <summary>Number of set bits in [start, end).</summary>
    public static ulong Count(ulong* map, ulong start, ulong end) => BitCount.Count(map, start, end, BitPaths.Selected);

    /// <summary>Whether every bit of [start, end) equals value (true for an empty range).</summary>
    public static bool AllEqual(ulong* map, ulong start, ulong end, bool value) => ForPath(BitPaths.Selected).AllEqual(map, start, end, value);
}

/// <summary>The kernels bound to one path; see BitKernels.</summary>
internal readonly unsafe struct BitOps
{
    public BitOps(BitPath path) => Path = path;

    public BitPath Path { get; }

    public void SetRange(ulong* map, ulong start, ulong count) => BitFill.Fill<DontNegate>(map, start, count, Path);

    public void ClearRange(ulong* map, ulong start, ulong count) => BitFill.Fill<Negate>(map, start, count, Path);

    public ulong FindNextSet(ulong* map, ulong start, ulong end) => BitScan.FindNext<DontNegate>(map, start, end, Path);

    public ulong FindNextClear(ulong* map, ulong start, ulong end) => BitScan.FindNext<Negate>(map, start, end, Path);

    public ulong Count(ulong* map, ulong start, ulong end) => BitCount.Count(map, start, end, Path);

    // All set = no clear bit in the range, and the reverse: the scans' early exit is what we want.
    public bool AllEqual(ulong* map, ulong start, ulong end, bool value) => start >= end
        || (value ? BitScan.FindNext<Negate>(map, start, end, Path) : BitScan.FindNext<DontNegate>(map, start, end, Path)) == end;
}
