using Hvrt.Conversion;
using Hvrt.Layout;

namespace Hvrt.Machine;

/// <summary>
/// The VM's side of conversion (hvrt_convert and its policy, listeners and sequence): checks,
/// the lock, then the algorithm in <see cref="Converter"/>.
/// </summary>
internal sealed unsafe partial class Vm
{
    private readonly Converter _converter = new();

    /// <summary>Discard system calls issued so far (tests prove "no discard" with it).</summary>
    public ulong DiscardCalls => _converter.DiscardCalls;

    /// <summary>The conversion sequence (<see cref="Converter.Seq"/>): even when idle, odd during a conversion.</summary>
    public ulong ConversionSeq => _converter.Seq;

    /// <summary>True (under the lock) while listeners run: changes from a callback are refused.</summary>
    private bool InCallback => _converter.Notifying;

    public int SetDiscardPolicy(uint flags)
    {
        if ((flags & ~DiscardPolicy.All) != 0)
        {
            return -Errno.EINVAL;
        }
        lock (_lock)
        {
            _converter.DiscardPolicyFlags = flags;
        }
        return 0;
    }

    public int AddConversionListener(nint callback, nint context)
    {
        lock (_lock)
        {
            return _converter.AddListener(callback, context) ? 0 : -Errno.EEXIST;
        }
    }

    public int RemoveConversionListener(nint callback, nint context)
    {
        lock (_lock)
        {
            return _converter.RemoveListener(callback, context) ? 0 : -Errno.ENOENT;
        }
    }

    /// <summary>
    /// Converts [gpa, gpa + size) to private (toPrivate 1) or shared (0): the request's checks,
    /// then <see cref="Converter.Convert"/> under the lock (-EDEADLK from a listener).
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
        lock (_lock)
        {
            if (InCallback)
            {
                return -Errno.EDEADLK;
            }
            return _converter.Convert(gpa >> 12, (gpa + size) >> 12, toPrivate == 1, Attributes, _sets, &_handle->Read, Kvm);
        }
    }
}
