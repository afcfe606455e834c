package api

import "github.com/openmcu/mcu/conference"

// FromConference adapts the real manager to Manager. Only Watch needs
// adapting: it returns the concrete subscription type.
func FromConference(m *conference.Manager) Manager { return conferenceManager{m} }

type conferenceManager struct{ *conference.Manager }

func (c conferenceManager) Watch(roomID string) (Subscription, error) {
	sub, err := c.Manager.Watch(roomID)
	if err != nil {
		return nil, err
	}
	return sub, nil
}
