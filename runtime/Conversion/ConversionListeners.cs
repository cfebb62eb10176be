using System;

namespace Hvrt.Conversion;

/// <summary>
/// The conversion listeners of a VM (QEMU's RamDiscardManager listeners): C callbacks with their
/// context, each (callback, context) pair at most once. Changed under the VM lock, copy-on-write,
/// so a callback that removes a listener (itself included) does not disturb the notification in
/// progress.
/// </summary>
internal sealed unsafe class ConversionListeners
{
    private Listener[] _all = Array.Empty<Listener>();

    private readonly record struct Listener(nint Callback, nint Context);

    public int Count => _all.Length;

    /// <summary>Adds a listener; false when this (callback, context) pair is already registered.</summary>
    public bool Add(nint callback, nint context)
    {
        if (IndexOf(_all, callback, context) >= 0)
        {
            return false;
        }
        var next = new Listener[_all.Length + 1];
        _all.CopyTo(next, 0);
        next[^1] = new Listener(callback, context);
        _all = next;
        return true;
    }

    /// <summary>Removes a listener; false when this pair is not registered.</summary>
    public bool Remove(nint callback, nint context)
    {
        int i = IndexOf(_all, callback, context);
        if (i < 0)
        {
            return false;
        }
        var next = new Listener[_all.Length - 1];
        Array.Copy(_all, 0, next, 0, i);
        Array.Copy(_all, i + 1, next, i, next.Length - i);
        _all = next;
        return true;
    }

    /// <summary>Calls every listener, in the order they were added, for one converted range.</summary>
    public void Notify(ulong gpa, ulong size, bool toPrivate)
    {
        Listener[] all = _all;
        foreach (Listener l in all)
        {
            // A listener removed by an earlier callback of this range is not called any more.
            if (!ReferenceEquals(all, _all) && IndexOf(_all, l.Callback, l.Context) < 0)
            {
                continue;
            }
            var cb = (delegate* unmanaged[Cdecl]<nint, ulong, ulong, int, void>)l.Callback;
            cb(l.Context, gpa, size, toPrivate ? 1 : 0);
        }
    }

    private static int IndexOf(Listener[] all, nint callback, nint context)
    {
        for (int i = 0; i < all.Length; i++)
        {
            if (all[i].Callback == callback && all[i].Context == context)
            {
                return i;
            }
        }
        return -1;
    }
}
