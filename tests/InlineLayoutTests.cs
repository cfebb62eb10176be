using System.Runtime.InteropServices;
using Hvrt.Index;
using Hvrt.Slots;
using Xunit;

namespace Hvrt.Tests;

/// <summary>
/// The runtime's side of the layouts hvrt_inline.h freezes (the header's static asserts are the
/// C side): a mismatch here means C callers read the wrong fields.
/// </summary>
public sealed unsafe class InlineLayoutTests
{
    [Fact]
    public void SlotEntry()
    {
        Assert.Equal(64, sizeof(Index.SlotEntry));
        Assert.Equal(0, Off<Index.SlotEntry>(nameof(Index.SlotEntry.BaseGfn)));
        Assert.Equal(8, Off<Index.SlotEntry>(nameof(Index.SlotEntry.NPages)));
        Assert.Equal(16, Off<Index.SlotEntry>(nameof(Index.SlotEntry.Hva)));
        Assert.Equal(24, Off<Index.SlotEntry>(nameof(Index.SlotEntry.PrivatePgoff)));
        Assert.Equal(32, Off<Index.SlotEntry>(nameof(Index.SlotEntry.PrivateFd)));
        Assert.Equal(36, Off<Index.SlotEntry>(nameof(Index.SlotEntry.KvmFlags)));
        Assert.Equal(40, Off<Index.SlotEntry>(nameof(Index.SlotEntry.Slot)));
        Assert.Equal(48, Off<Index.SlotEntry>(nameof(Index.SlotEntry.FileDev)));
        Assert.Equal(56, Off<Index.SlotEntry>(nameof(Index.SlotEntry.FileIno)));
    }

    [Fact]
    public void LeafIndexSnapshot()
    {
        var leaf = default(Leaf);
        Assert.Equal(64, (int)((byte*)leaf.Keys - (byte*)&leaf));
        Assert.Equal(64 + 8 * Leaf.Cap, (int)((byte*)Leaf.Entry(&leaf, 0) - (byte*)&leaf));
        Assert.Equal(8, Off<Leaf>(nameof(Leaf.MaxEnd)));
        Assert.Equal(64 + 72 * Leaf.Cap, sizeof(Leaf));

        Assert.Equal(64, sizeof(IndexTop));
        Assert.Equal(8, Off<IndexTop>(nameof(IndexTop.First0)));
        Assert.Equal(32, Off<IndexTop>(nameof(IndexTop.MaxEnd)));
        Assert.Equal(40, Off<IndexTop>(nameof(IndexTop.Leaves)));

        Assert.Equal(256, sizeof(Snapshot));
        Assert.Equal(0, Off<Snapshot>(nameof(Snapshot.Generation)));
        Assert.Equal(8, Off<Snapshot>(nameof(Snapshot.Count)));
        Assert.Equal(12, Off<Snapshot>(nameof(Snapshot.AsId)));
        Assert.Equal(64, Off<Snapshot>(nameof(Snapshot.Gfn)));
        Assert.Equal(128, Off<Snapshot>(nameof(Snapshot.Hva)));
        Assert.Equal(192, Off<Snapshot>(nameof(Snapshot.Private)));
    }

    [Fact]
    public void VmHandle()
    {
        Assert.Equal(0, Off<Slots.VmHandle>(nameof(Slots.VmHandle.Magic)));
        Assert.Equal(16, Off<Slots.VmHandle>(nameof(Slots.VmHandle.InlineAsLimit)));
        Assert.Equal(20, Off<Slots.VmHandle>(nameof(Slots.VmHandle.NrAddressSpaces)));
        Assert.Equal(40, Off<Slots.VmHandle>(nameof(Slots.VmHandle.Serial)));
        Assert.Equal(24, Off<Slots.VmHandle>(nameof(Slots.VmHandle.Current0)));
        Assert.Equal(32, Off<Slots.VmHandle>(nameof(Slots.VmHandle.Current1)));
    }

    [Fact]
    public void ReaderRecord()
    {
        Assert.Equal(64, sizeof(Sync.ReaderRecord));
        Assert.Equal(8, Off<Sync.ReaderRecord>(nameof(Sync.ReaderRecord.Vm)));
        Assert.Equal(16, Off<Sync.ReaderRecord>(nameof(Sync.ReaderRecord.Ctr)));
        Assert.Equal(32, Off<Sync.ReaderRecord>(nameof(Sync.ReaderRecord.Cache0)));
        Assert.Equal(48, Off<Sync.ReaderRecord>(nameof(Sync.ReaderRecord.Cache1)));
        Assert.Equal(0, Off<Sync.ReaderCache>(nameof(Sync.ReaderCache.Generation)));
        Assert.Equal(8, Off<Sync.ReaderCache>(nameof(Sync.ReaderCache.Entry)));
        Assert.Equal(ulong.MaxValue, Sync.ReaderCache.Empty.Generation);
    }

    private static int Off<T>(string field) => (int)Marshal.OffsetOf<T>(field);
}
