using System;

namespace Hvrt.Tests.Support;

/// <summary>
/// The trivially correct model of a bitmap: one bool per bit, answers computed bit by bit once
/// (next set/clear at or after i, prefix counts) so each query is a lookup.
/// </summary>
internal sealed class BitReference
{
    private readonly bool[] _bits;
    private readonly ulong[] _nextSet;
    private readonly ulong[] _nextClear;
    private readonly ulong[] _prefix;

    public BitReference(ReadOnlySpan<ulong> words)
    {
        int n = words.Length * 64;
        _bits = new bool[n];
        for (int i = 0; i < n; i++)
        {
            _bits[i] = ((words[i / 64] >> (i % 64)) & 1) != 0;
        }
        _nextSet = new ulong[n + 1];
        _nextClear = new ulong[n + 1];
        _prefix = new ulong[n + 1];
        _nextSet[n] = _nextClear[n] = ulong.MaxValue;
        for (int i = n - 1; i >= 0; i--)
        {
            _nextSet[i] = _bits[i] ? (ulong)i : _nextSet[i + 1];
            _nextClear[i] = _bits[i] ? _nextClear[i + 1] : (ulong)i;
        }
        for (int i = 0; i < n; i++)
        {
            _prefix[i + 1] = _prefix[i] + (_bits[i] ? 1UL : 0UL);
        }
    }

    public ulong FindNextSet(ulong start, ulong end) => start >= end ? end : Math.Min(_nextSet[start], end);

    public ulong FindNextClear(ulong start, ulong end) => start >= end ? end : Math.Min(_nextClear[start], end);

    public ulong Count(ulong start, ulong end) => start >= end ? 0 : _prefix[end] - _prefix[start];

    public bool AllEqual(ulong start, ulong end, bool value) => start >= end || Count(start, end) == (value ? end - start : 0);

    /// <summary>words with bits [start, start + count) set to value, one bit at a time.</summary>
    public static void Fill(Span<ulong> words, ulong start, ulong count, bool value)
    {
        for (ulong i = start; i < start + count; i++)
        {
            ulong bit = 1UL << (int)(i % 64);
            words[(int)(i / 64)] = value ? words[(int)(i / 64)] | bit : words[(int)(i / 64)] & ~bit;
        }
    }
}
