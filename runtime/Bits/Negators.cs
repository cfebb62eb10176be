using System.Runtime.Intrinsics;

namespace Hvrt.Bits;

/// <summary>
/// Lets one body serve the set and clear variants (SpanHelpers' INegator): a scan for clear bits is
/// a scan for set bits of the complemented words, a clear is a set of the complement. Zero-size
/// structs, so the JIT/ILC specialises each body and the identity costs nothing.
/// </summary>
internal interface INegator
{
    static abstract ulong NegateIfNeeded(ulong w);
    static abstract Vector128<ulong> NegateIfNeeded(Vector128<ulong> v);
    static abstract Vector256<ulong> NegateIfNeeded(Vector256<ulong> v);
    static abstract Vector512<ulong> NegateIfNeeded(Vector512<ulong> v);
}

/// <summary>The set variants: words as stored.</summary>
internal readonly struct DontNegate : INegator
{
    public static ulong NegateIfNeeded(ulong w) => w;
    public static Vector128<ulong> NegateIfNeeded(Vector128<ulong> v) => v;
    public static Vector256<ulong> NegateIfNeeded(Vector256<ulong> v) => v;
    public static Vector512<ulong> NegateIfNeeded(Vector512<ulong> v) => v;
}

/// <summary>The clear variants: complemented words.</summary>
internal readonly struct Negate : INegator
{
    public static ulong NegateIfNeeded(ulong w) => ~w;
    public static Vector128<ulong> NegateIfNeeded(Vector128<ulong> v) => ~v;
    public static Vector256<ulong> NegateIfNeeded(Vector256<ulong> v) => ~v;
    public static Vector512<ulong> NegateIfNeeded(Vector512<ulong> v) => ~v;
}
