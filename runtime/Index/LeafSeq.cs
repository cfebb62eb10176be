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
}

internal readonly unsafe struct TopSeq : ILeafSeq
{
    private readonly IndexTop* _top;

    public TopSeq(IndexTop* top) => _top = top;

    public int Count => (int)_top->NrLeaves;

    public Leaf* LeafAt(int i) => _top->Leaves[i];

    public IndexKey FirstAt(int i) => _top->FirstKey((nuint)i);

    public ulong MaxEndAt(int i) => _top->MaxEnd[i];
}
