//! The cursor every check walks with: it knows how many bytes remain, so a claimed count
//! can be refused before anything is allocated for it.

use yrs::encoding::read::{Cursor, Read};

use super::{BoundsError, MAX_ANY_DEPTH, MAX_CLIENT_ID};

/// A cursor that knows how many bytes are left, so counts can be checked against them.
pub(super) struct Walker<'a> {
    cursor: Cursor<'a>,
}

impl<'a> Walker<'a> {
    pub(super) fn new(bytes: &'a [u8]) -> Self {
        Walker {
            cursor: Cursor::new(bytes),
        }
    }

    pub(super) fn remaining(&self) -> usize {
        self.cursor.buf.len() - self.cursor.next
    }

    pub(super) fn u8(&mut self) -> Result<u8, BoundsError> {
        Ok(self.cursor.read_u8()?)
    }

    pub(super) fn var(&mut self) -> Result<u64, BoundsError> {
        Ok(self.cursor.read_var::<u64>()?)
    }

    /// A count of elements that each take at least `min_bytes` bytes.
    pub(super) fn count(
        &mut self,
        what: &'static str,
        min_bytes: usize,
    ) -> Result<u64, BoundsError> {
        let claimed = self.var()?;
        let remaining = self.remaining();
        if claimed.saturating_mul(min_bytes as u64) > remaining as u64 {
            return Err(BoundsError::CountExceedsInput {
                what,
                claimed,
                remaining,
            });
        }
        Ok(claimed)
    }

    pub(super) fn clock(&mut self) -> Result<u64, BoundsError> {
        let clock = self.var()?;
        if clock > u64::from(u32::MAX) {
            return Err(BoundsError::ClockOutOfRange(clock));
        }
        Ok(clock)
    }

    pub(super) fn client(&mut self) -> Result<u64, BoundsError> {
        let client = self.var()?;
        if client > MAX_CLIENT_ID {
            return Err(BoundsError::ClientIdOutOfRange(client));
        }
        Ok(client)
    }

    pub(super) fn id(&mut self) -> Result<(u64, u64), BoundsError> {
        Ok((self.client()?, self.clock()?))
    }

    pub(super) fn buf(&mut self) -> Result<&[u8], BoundsError> {
        Ok(self.cursor.read_buf()?)
    }

    pub(super) fn string(&mut self) -> Result<&str, BoundsError> {
        Ok(self.cursor.read_string()?)
    }

    /// An `Any` value (lib0 encoding). `yrs` decodes these recursively and reserves the claimed
    /// length of maps and arrays, so both the counts and the nesting depth are bounded here:
    /// a frame of nested one-byte arrays would otherwise overflow the stack.
    pub(super) fn any(&mut self, depth: usize) -> Result<(), BoundsError> {
        if depth > MAX_ANY_DEPTH {
            return Err(BoundsError::Malformed("value nested too deeply"));
        }
        match self.u8()? {
            // undefined, null, false, true
            127 | 126 | 121 | 120 => {}
            // integer
            125 => {
                self.var_signed()?;
            }
            // float32, float64, bigint
            124 => self.skip(4)?,
            123 | 122 => self.skip(8)?,
            // string, buffer
            119 => {
                self.string()?;
            }
            116 => {
                self.buf()?;
            }
            // map: key and value per entry
            118 => {
                let len = self.count("map entry", 2)?;
                for _ in 0..len {
                    self.string()?;
                    self.any(depth + 1)?;
                }
            }
            // array
            117 => {
                let len = self.count("array element", 1)?;
                for _ in 0..len {
                    self.any(depth + 1)?;
                }
            }
            _ => return Err(BoundsError::Malformed("value")),
        }
        Ok(())
    }

    /// A JSON text (embeds and formatting attributes). serde_json limits nesting itself.
    pub(super) fn json(&mut self) -> Result<(), BoundsError> {
        let text = self.string()?;
        serde_json::from_str::<serde::de::IgnoredAny>(text)
            .map_err(|_| BoundsError::Malformed("JSON value"))?;
        Ok(())
    }

    pub(super) fn var_signed(&mut self) -> Result<(), BoundsError> {
        self.cursor.read_var_signed::<i64>()?;
        Ok(())
    }

    pub(super) fn skip(&mut self, n: usize) -> Result<(), BoundsError> {
        self.cursor.read_exact(n)?;
        Ok(())
    }

    pub(super) fn finish(self) -> Result<(), BoundsError> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(BoundsError::TrailingBytes(n)),
        }
    }
}
