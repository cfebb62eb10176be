using System.Collections.Generic;
using System.Threading;
using Hvrt.Attributes;
using Hvrt.Kvm;
using Hvrt.Layout;
using Hvrt.Slots;

namespace Hvrt.Conversion;

/// <summary>
/// Private⇄shared conversion (QEMU's kvm_convert_memory): find the runs whose attribute changes,
/// hand them to a bound KVM first, discard the side they no longer use, flip their attributes,
/// then tell the listeners; a seqlock-style counter lets lock-free readers detect a conversion
/// that raced with them. One per VM, called under the VM's lock (the VM checks the request and
/// that no listener of its own is calling back, then delegates): the lists are reused, so a
/// conversion allocates nothing once warm.
/// </summary>
internal sealed unsafe partial class Converter
{
    private readonly DiscardPlan _discards = new();
    private readonly ConversionListeners _listeners = new();
    private readonly List<(ulong Start, ulong End)> _convertRuns = new();
    private uint _discardPolicy = DiscardPolicy.Default;
    private ulong _conversionSeq;

    /// <summary>Discard system calls issued so far (tests prove "no discard" with it).</summary>
    public ulong DiscardCalls => _discards.Calls;

    /// <summary>
    /// The conversion sequence: even when no conversion is in progress, odd during one. The full
    /// fence orders the caller's earlier reads before this load (a seqlock's read_seqretry).
    /// </summary>
    public ulong Seq
    {
        get
        {
            Interlocked.MemoryBarrier();
            return Volatile.Read(ref _conversionSeq);
        }
    }

    /// <summary>True (under the VM lock) while listeners run: the VM refuses changes from a callback.</summary>
    public bool Notifying { get; private set; }

    /// <summary>HVRT_DISCARD_* (already checked against <see cref="DiscardPolicy.All"/>); under the VM lock.</summary>
    public uint DiscardPolicyFlags
    {
        set => _discardPolicy = value;
    }

    public bool AddListener(nint callback, nint context) => _listeners.Add(callback, context);

    public bool RemoveListener(nint callback, nint context) => _listeners.Remove(callback, context);

    /// <summary>
    /// Converts gfns [start, end) to private or shared, under the VM lock. Only the pages whose
    /// attribute changes are discarded and reported. Returns 0 or -errno; on an error no attribute
    /// changes (discards already issued for other pieces stay done).
    /// </summary>
    /// <param name="vm">The published side of the VM: its snapshots (the alias rule asks them) and the inline readers' limit.</param>
    public int Convert(ulong start, ulong end, bool priv, AttributeStore attributes, SlotSet[] sets, VmLayout* vm, KvmBinding kvm)
    {
        FindChangingRuns(attributes, start, end, priv);
        if (_convertRuns.Count == 0)
        {
            return 0;
        }
        // After Reserve the SetRange below cannot fail, so -ENOMEM comes before any discard.
        int r = attributes.Reserve(start, end, priv);
        if (r != 0)
        {
            return r;
        }
        Interlocked.Increment(ref _conversionSeq);
        try
        {
            // QEMU's order: a bound KVM that takes PRIVATE flips first (its errno wins and
            // nothing is discarded), then the side no longer used is discarded.
            r = kvm.SetAttributes(attributes, start, end, priv);
            if (r != 0)
            {
                return r;
            }
            r = Discard(priv, start, end, attributes, sets, vm);
            if (r != 0)
            {
                kvm.UndoConversion(_convertRuns, priv);
                return r;
            }
            if (priv)
            {
                VmLayout.MarkPrivatePagesInUse(vm);
            }
            attributes.SetRange(start, end, priv);
            Notifying = true;
            foreach ((ulong s, ulong e) in _convertRuns)
            {
                _listeners.Notify(s << 12, (e - s) << 12, priv);
            }
            return 0;
        }
        finally
        {
            Notifying = false;
            Interlocked.Increment(ref _conversionSeq);
        }
    }

    /// <summary>The maximal runs of [start, end) whose PRIVATE bit is not yet <paramref name="priv"/>.</summary>
    private void FindChangingRuns(AttributeStore attributes, ulong start, ulong end, bool priv)
    {
        _convertRuns.Clear();
        ulong g = start;
        while (g < end)
        {
            ulong s = attributes.NextDiffering(g, end, priv);
            if (s >= end)
            {
                break;
            }
            ulong e = attributes.NextDiffering(s, end, !priv);
            _convertRuns.Add((s, e));
            g = e;
        }
    }

    /// <summary>
    /// Discards the side the changing runs leave: to private, the shared memory of every slot (of
    /// every address space) backing them; to shared, the private file pages of every slot with a
    /// private backing. Holes (no slot) need nothing. [start, end) is the whole range converted
    /// (every gfn in it is private afterwards). Returns 0 or the first -errno.
    /// </summary>
    private int Discard(bool toPrivate, ulong start, ulong end, AttributeStore attributes, SlotSet[] sets, VmLayout* vm)
    {
        uint bit = toPrivate ? DiscardPolicy.Shared : DiscardPolicy.Private;
        if ((_discardPolicy & bit) == 0)
        {
            return 0;
        }
        _discards.Clear();
        foreach (SlotSet set in sets)
        {
            IReadOnlyList<MemSlot> slots = set.ByGfn;
            foreach ((ulong rs, ulong re) in _convertRuns)
            {
                for (int i = set.FirstReaching(rs); i < slots.Count && slots[i].BaseGfn < re; i++)
                {
                    MemSlot m = slots[i];
                    ulong s = rs > m.BaseGfn ? rs : m.BaseGfn;
                    ulong e = re < m.EndGfn ? re : m.EndGfn;
                    if (s >= e)
                    {
                        continue;
                    }
                    if (toPrivate)
                    {
                        ulong h = m.Hva + ((s - m.BaseGfn) << 12);
                        AddSharedDiscard(h, h + ((e - s) << 12), start, end, attributes, vm, (uint)sets.Length);
                    }
                    else if (m.HasPrivate && m.PrivateFd >= 0)
                    {
                        _discards.AddPrivate(m.PrivateFile.Dev, m.PrivateFile.Ino, m.PrivateFd, (m.PrivatePgoff + (s - m.BaseGfn)) << 12, (e - s) << 12);
                    }
                }
            }
        }
        int r = toPrivate ? _discards.DropShared() : _discards.PunchPrivate();
        _discards.Clear();
        return r;
    }
}
