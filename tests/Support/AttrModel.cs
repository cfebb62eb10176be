using System.Collections.Generic;

namespace Hvrt.Tests.Support;

/// <summary>
/// The brute-force model of the attributes for huge sparse ranges: a sorted list of disjoint
/// private intervals [s, e), rebuilt on every change.
/// </summary>
internal sealed class IntervalModel
{
    private List<(ulong S, ulong E)> _runs = new();

    public IReadOnlyList<(ulong S, ulong E)> Runs => _runs;

    public void Set(ulong s, ulong e, bool isPrivate)
    {
        var next = new List<(ulong S, ulong E)>();
        foreach (var (rs, re) in _runs)
        {
            if (re <= s || rs >= e)
            {
                next.Add((rs, re));
                continue;
            }
            if (rs < s)
            {
                next.Add((rs, s));
            }
            if (re > e)
            {
                next.Add((e, re));
            }
        }
        if (isPrivate)
        {
            next.Add((s, e));
        }
        next.Sort((a, b) => a.S.CompareTo(b.S));
        var merged = new List<(ulong S, ulong E)>();
        foreach (var r in next)
        {
            if (merged.Count > 0 && merged[^1].E >= r.S)
            {
                merged[^1] = (merged[^1].S, System.Math.Max(merged[^1].E, r.E));
            }
            else
            {
                merged.Add(r);
            }
        }
        _runs = merged;
    }

    public bool Get(ulong g)
    {
        foreach (var (s, e) in _runs)
        {
            if (g >= s && g < e)
            {
                return true;
            }
        }
        return false;
    }

    public ulong Count(ulong s, ulong e)
    {
        ulong n = 0;
        foreach (var (rs, re) in _runs)
        {
            ulong a = System.Math.Max(rs, s), b = System.Math.Min(re, e);
            n += b > a ? b - a : 0;
        }
        return n;
    }

    /// <summary>First gfn in [s, e) whose privateness is not v, or e.</summary>
    public ulong NextDiffering(ulong s, ulong e, bool v)
    {
        ulong g = s;
        while (g < e)
        {
            bool p = Get(g);
            if (p != v)
            {
                return g;
            }
            // Jump to the end of g's run (private) or the start of the next run (shared).
            ulong next = e;
            foreach (var (rs, re) in _runs)
            {
                if (p && g >= rs && g < re)
                {
                    next = re;
                }
                if (!p && rs > g && rs < next)
                {
                    next = rs;
                }
            }
            g = System.Math.Min(next, e);
        }
        return e;
    }
}
