using System.Collections.Generic;

namespace Hvrt.Slots;

/// <summary>
/// Which page ranges of each private file are bound to a slot (KVM's per-file bindings xarray):
/// a page of a file may back at most one gfn, across all address spaces.
/// </summary>
internal sealed class PrivateBindings
{
    private readonly Dictionary<(ulong Dev, ulong Ino), List<MemSlot>> _byFile = new();

    public bool Overlaps((ulong, ulong) file, ulong firstPage, ulong npages)
    {
        if (!_byFile.TryGetValue(file, out List<MemSlot>? slots))
        {
            return false;
        }
        ulong end = firstPage + npages;
        foreach (MemSlot s in slots)
        {
            if (s.PrivatePgoff < end && firstPage < s.PrivatePgoff + s.NPages)
            {
                return true;
            }
        }
        return false;
    }

    public void Bind(MemSlot s)
    {
        if (!_byFile.TryGetValue(s.PrivateFile, out List<MemSlot>? slots))
        {
            slots = new List<MemSlot>();
            _byFile.Add(s.PrivateFile, slots);
        }
        slots.Add(s);
    }

    public void Unbind(MemSlot s)
    {
        if (_byFile.TryGetValue(s.PrivateFile, out List<MemSlot>? slots))
        {
            slots.Remove(s);
            if (slots.Count == 0)
            {
                _byFile.Remove(s.PrivateFile);
            }
        }
    }
}
