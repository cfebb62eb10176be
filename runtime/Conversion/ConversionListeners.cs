using System;

namespace Hvrt.Conversion;

/// <summary>
/// The conversion listeners of a VM (QEMU's RamDiscardManager listeners): C callbacks with their
/// context, by id. Changed under the VM lock, copy-on-write, so a callback that removes a
/// listener (itself included) does not disturb the notification in progress.
/// </summary>
internal sealed unsafe class ConversionListeners
{
    private Listener[] _all = Array.Empty<Listener>();
    private ulong _lastId;

    private readonly record struct Listener(ulong Id, nint Callback, nint Context);

    public int Count => _all.Length;

    /// <summary>Adds a listener and returns its id (never 0, never reused).</summary>
    public ulong Add(nint callback, nint context)
    {
        ulong id = ++_lastId;
        var next = new Listener[_all.Length + 1];
        _all.CopyTo(next, 0);
        next[^1] = new Listener(id, callback, context);
        _all = next;
        return id;
    }

    /// <summary>Removes a listener; false when no listener has that id.</summary>
    public bool Remove(ulong id)
    {
        int i = Array.FindIndex(_all, l => l.Id == id);
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
            if (!ReferenceEquals(all, _all) && Array.FindIndex(_all, x => x.Id == l.Id) < 0)
            {
                continue;
            }
            var cb = (delegate* unmanaged[Cdecl]<nint, ulong, ulong, int, void>)l.Callback;
            cb(l.Context, gpa, size, toPrivate ? 1 : 0);
        }
    }
}
