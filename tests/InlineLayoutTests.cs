using System.Runtime.InteropServices;
using Hvrt.Index;
using Hvrt.Layout;
using Hvrt.Machine;
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
        Assert.Equal(64, sizeof(Layout.SlotEntry));
        Assert.Equal(0, Off<Layout.SlotEntry>(nameof(Layout.SlotEntry.BaseGfn)));
        Assert.Equal(8, Off<Layout.SlotEntry>(nameof(Layout.SlotEntry.NPages)));
        Assert.Equal(16, Off<Layout.SlotEntry>(nameof(Layout.SlotEntry.Hva)));
        Assert.Equal(24, Off<Layout.SlotEntry>(nameof(Layout.SlotEntry.PrivatePgoff)));
        Assert.Equal(32, Off<Layout.SlotEntry>(nameof(Layout.SlotEntry.PrivateFd)));
        Assert.Equal(36, Off<Layout.SlotEntry>(nameof(Layout.SlotEntry.KvmFlags)));
        Assert.Equal(40, Off<Layout.SlotEntry>(nameof(Layout.SlotEntry.Slot)));
        Assert.Equal(48, Off<Layout.SlotEntry>(nameof(Layout.SlotEntry.FileDev)));
        Assert.Equal(56, Off<Layout.SlotEntry>(nameof(Layout.SlotEntry.FileIno)));
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
        Assert.Equal(0, Off<VmLayout>(nameof(VmLayout.Magic)));
        Assert.Equal(16, Off<VmLayout>(nameof(VmLayout.InlineAsLimit)));
        Assert.Equal(20, Off<VmLayout>(nameof(VmLayout.NrAddressSpaces)));
        Assert.Equal(40, Off<VmLayout>(nameof(VmLayout.Serial)));
        Assert.Equal(24, Off<VmLayout>(nameof(VmLayout.Current0)));
        Assert.Equal(32, Off<VmLayout>(nameof(VmLayout.Current1)));
        // hvrt's own fields after the frozen 48 bytes, and the handle around the layout.
        Assert.Equal(48, Off<VmLayout>(nameof(VmLayout.AttributeRoot)));
        Assert.Equal(0, Off<Machine.VmHandle>(nameof(Machine.VmHandle.Read)));
        Assert.Equal(64, Off<Machine.VmHandle>(nameof(Machine.VmHandle.Grace)));
    }

    [Fact]
    public void ReaderRecord()
    {
        Assert.Equal(64, sizeof(Sync.ReaderRecord));
        Assert.Equal(8, Off<Sync.ReaderRecord>(nameof(Sync.ReaderRecord.Vm)));
        Assert.Equal(16, Off<Sync.ReaderRecord>(nameof(Sync.ReaderRecord.Ctr)));
        Assert.Equal(32, Off<Sync.ReaderRecord>(nameof(Sync.ReaderRecord.Cache0)));
        Assert.Equal(48, Off<Sync.ReaderRecord>(nameof(Sync.ReaderRecord.Cache1)));
        Assert.Equal(0, Off<Layout.ReaderCache>(nameof(Layout.ReaderCache.Generation)));
        Assert.Equal(8, Off<Layout.ReaderCache>(nameof(Layout.ReaderCache.Entry)));
        Assert.Equal(ulong.MaxValue, Layout.ReaderCache.Empty.Generation);
    }

    private static int Off<T>(string field) => (int)Marshal.OffsetOf<T>(field);
}
