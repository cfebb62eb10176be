using System.Collections.Generic;
using System.Threading;
using Hvrt.Attributes;
using Hvrt.Conversion;
using Hvrt.Layout;
using Hvrt.Slots;

namespace Hvrt.Machine;

/// <summary>
/// Private⇄shared conversion (QEMU's kvm_convert_memory): under the VM lock, discard the side a
/// range no longer uses, then flip its attributes, then tell the listeners; a seqlock-style
/// counter lets lock-free readers detect a conversion that raced with them.
/// </summary>
internal sealed unsafe partial class Vm
{
    private readonly DiscardPlan _discards = new();
    private readonly ConversionListeners _listeners = new();
    private readonly List<(ulong Start, ulong End)> _convertRuns = new();
    private uint _discardPolicy = DiscardPolicy.Default;
    private ulong _conversionSeq;
    private bool _notifying;

    /// <summary>Discard system calls issued so far (tests prove "no discard" with it).</summary>
    public ulong DiscardCalls => _discards.Calls;

    /// <summary>
    /// The conversion sequence: even when no conversion is in progress, odd during one. The full
    /// fence orders the caller's earlier reads before this load (a seqlock's read_seqretry).
    /// </summary>
    public ulong ConversionSeq
    {
        get
        {
            Interlocked.MemoryBarrier();
            return Volatile.Read(ref _conversionSeq);
        }
    }

    /// <summary>True (under the lock) while listeners run: changes from a callback are refused.</summary>
    private bool InCallback => _notifying;

    public int SetDiscardPolicy(uint flags)
    {
        if ((flags & ~DiscardPolicy.All) != 0)
        {
            return -Errno.EINVAL;
        }
        lock (_lock)
        {
            _discardPolicy = flags;
        }
        return 0;
    }

    public int AddConversionListener(nint callback, nint context)
    {
        lock (_lock)
        {
            return _listeners.Add(callback, context) ? 0 : -Errno.EEXIST;
        }
    }

    public int RemoveConversionListener(nint callback, nint context)
    {
        lock (_lock)
        {
            return _listeners.Remove(callback, context) ? 0 : -Errno.ENOENT;
        }
    }

    /// <summary>
    /// Converts [gpa, gpa + size) to private (toPrivate 1) or shared (0). Only the pages whose
    /// attribute changes are discarded and reported. Returns 0 or -errno; on an error no attribute
    /// changes (discards already issued for other pieces stay done).
    /// </summary>
    public int Convert(ulong gpa, ulong size, int toPrivate)
    {
        if ((SupportedAttributes & MemAttr.Private) == 0 || toPrivate is not (0 or 1))
        {
            return -Errno.EINVAL;
        }
        if (size == 0 || gpa + size < gpa || ((gpa | size) & 4095) != 0)
        {
            return -Errno.EINVAL;
        }
        bool priv = toPrivate == 1;
        ulong start = gpa >> 12;
        ulong end = (gpa + size) >> 12;
        lock (_lock)
        {
            if (InCallback)
            {
                return -Errno.EDEADLK;
            }
            FindChangingRuns(start, end, priv);
            if (_convertRuns.Count == 0)
            {
                return 0;
            }
            // After Reserve the SetRange below cannot fail, so -ENOMEM comes before any discard.
            int r = Attributes.Reserve(start, end, priv);
            if (r != 0)
            {
                return r;
            }
            Interlocked.Increment(ref _conversionSeq);
            try
            {
                // QEMU's order: a bound KVM that takes PRIVATE flips first (its errno wins and
                // nothing is discarded), then the side no longer used is discarded.
                r = Kvm.SetAttributes(Attributes, start, end, priv);
                if (r != 0)
                {
                    return r;
                }
                r = Discard(priv, start, end);
                if (r != 0)
                {
                    Kvm.UndoConversion(_convertRuns, priv);
                    return r;
                }
                if (priv)
                {
                    MarkPrivatePagesInUse();
                }
                Attributes.SetRange(start, end, priv);
                _notifying = true;
                foreach ((ulong s, ulong e) in _convertRuns)
                {
                    _listeners.Notify(s << 12, (e - s) << 12, priv);
                }
                return 0;
            }
            finally
            {
                _notifying = false;
                Interlocked.Increment(ref _conversionSeq);
            }
        }
    }

    /// <summary>The maximal runs of [start, end) whose PRIVATE bit is not yet <paramref name="priv"/>.</summary>
    private void FindChangingRuns(ulong start, ulong end, bool priv)
    {
        _convertRuns.Clear();
        ulong g = start;
        while (g < end)
        {
            ulong s = Attributes.NextDiffering(g, end, priv);
            if (s >= end)
            {
                break;
            }
            ulong e = Attributes.NextDiffering(s, end, !priv);
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
    private int Discard(bool toPrivate, ulong start, ulong end)
    {
        uint bit = toPrivate ? DiscardPolicy.Shared : DiscardPolicy.Private;
        if ((_discardPolicy & bit) == 0)
        {
            return 0;
        }
        _discards.Clear();
        foreach (SlotSet set in _sets)
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
                        AddSharedDiscard(h, h + ((e - s) << 12), start, end);
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
