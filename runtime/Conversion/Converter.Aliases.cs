using System.Collections.Generic;
using Hvrt.Attributes;
using Hvrt.Index;
using Hvrt.Layout;

namespace Hvrt.Conversion;

/// <summary>
/// "Nothing is discarded that is still in use": host memory may back more than one gfn (slots
/// whose userspace ranges overlap, in one address space or across two — KVM allows it). When a
/// conversion to private drops the shared side of the gfns it converts, the parts of that host
/// range another gfn still uses as shared (outside the converted range, attribute shared) are
/// kept. Private files need no such care: KVM's binding rule lets a file page back one gfn only.
/// Writer only (VM lock); the lists are reused, so a conversion allocates nothing once warm.
/// </summary>
internal sealed unsafe partial class Converter
{
    private readonly List<nint> _aliasEntries = new();
    private readonly List<(ulong Start, ulong End)> _keepShared = new();

    private struct EntryListSink : IEntrySink
    {
        public List<nint> Out;

        public void Add(SlotEntry* e) => Out.Add((nint)e);
    }

    /// <summary>
    /// Adds host bytes [h0, h1) (the shared side of gfns inside [start, end) that become private)
    /// to the discard plan, minus what gfns outside [start, end) still map as shared.
    /// </summary>
    private void AddSharedDiscard(ulong h0, ulong h1, ulong start, ulong end, AttributeStore attributes, VmLayout* vm, uint nrAddressSpaces)
    {
        FindSharedKeeps(h0, h1, start, end, attributes, vm, nrAddressSpaces);
        ulong at = h0;
        foreach ((ulong ks, ulong ke) in _keepShared)
        {
            if (ks > at)
            {
                _discards.AddShared(at, ks - at);
            }
            at = ke > at ? ke : at;
        }
        if (at < h1)
        {
            _discards.AddShared(at, h1 - at);
        }
    }

    /// <summary>Sorted host ranges inside [h0, h1) that gfns outside [start, end) use as shared.</summary>
    private void FindSharedKeeps(ulong h0, ulong h1, ulong start, ulong end, AttributeStore attributes, VmLayout* vm, uint nrAddressSpaces)
    {
        _keepShared.Clear();
        _aliasEntries.Clear();
        var sink = new EntryListSink { Out = _aliasEntries };
        for (uint i = 0; i < nrAddressSpaces; i++)
        {
            RangeQuery.ByHva(new TopSeq(&VmLayout.Load(vm, i)->Hva), h0, h1, ref sink);
        }
        foreach (nint p in _aliasEntries)
        {
            var e = (SlotEntry*)p;
            ulong ov0 = h0 > e->Hva ? h0 : e->Hva;
            ulong eEnd = e->Hva + (e->NPages << 12);
            ulong ov1 = h1 < eEnd ? h1 : eEnd;
            // The gfns of this entry behind [ov0, ov1); userspace_addr is page aligned (KVM's rule).
            ulong g0 = e->BaseGfn + ((ov0 - e->Hva) >> 12);
            ulong g1 = e->BaseGfn + ((ov1 - e->Hva + 4095) >> 12);
            KeepSharedRuns(attributes, e, g0, g1 < start ? g1 : start, ov0, ov1);
            KeepSharedRuns(attributes, e, g0 > end ? g0 : end, g1, ov0, ov1);
        }
        _keepShared.Sort(static (a, b) => a.Start.CompareTo(b.Start));
    }

    /// <summary>Keeps the host bytes of e's gfns in [g0, g1) that are shared now (clipped to [ov0, ov1)).</summary>
    private void KeepSharedRuns(AttributeStore attributes, SlotEntry* e, ulong g0, ulong g1, ulong ov0, ulong ov1)
    {
        ulong g = g0;
        while (g < g1)
        {
            ulong s = attributes.NextDiffering(g, g1, isPrivate: true); // first shared gfn
            if (s >= g1)
            {
                return;
            }
            ulong t = attributes.NextDiffering(s, g1, isPrivate: false); // end of the shared run
            ulong k0 = e->Hva + ((s - e->BaseGfn) << 12);
            ulong k1 = e->Hva + ((t - e->BaseGfn) << 12);
            _keepShared.Add((k0 > ov0 ? k0 : ov0, k1 < ov1 ? k1 : ov1));
            g = t;
        }
    }
}
