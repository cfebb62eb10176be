using Hvrt.Layout;
namespace Hvrt.Index;

/// <summary>
/// An index's leaves in key order with their first keys and max ends: a published top
/// (<see cref="TopSeq"/>) or a writer's working copy (<see cref="IndexBuilder.LeafSeq"/>), so one
/// query implementation serves readers and the writer's own checks.
/// </summary>
internal unsafe interface ILeafSeq
{
    int Count { get; }

    Leaf* LeafAt(int i);

    IndexKey FirstAt(int i);

    ulong MaxEndAt(int i);

    /// <summary>A leaf index before which no leaf has an entry ending after <paramref name="start"/> (0 is always right).</summary>
    int FirstReaching(ulong start);
}

internal readonly unsafe struct TopSeq : ILeafSeq
{
    private readonly IndexTop* _top;

    public TopSeq(IndexTop* top) => _top = top;

    public int Count => (int)_top->NrLeaves;

    public Leaf* LeafAt(int i) => _top->Leaves[i];

    public IndexKey FirstAt(int i) => IndexKeys.FirstOf(_top, (nuint)i);

    public ulong MaxEndAt(int i) => _top->MaxEnd[i];

    public int FirstReaching(ulong start)
    {
        // The first i with MaxEndPrefix[i] > start: every leaf before it ends at or before start.
        int lo = 0, hi = Count;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (_top->MaxEndPrefix[mid] <= start)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }
        return lo;
    }
}
