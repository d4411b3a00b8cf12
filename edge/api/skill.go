package api

import (
	"net/http"

	"github.com/openagents/trust/shared/edgeapi"
	"github.com/openagents/trust/shared/httpapi"
	"github.com/openagents/trust/shared/trust"
)

// skillBodyLimit bounds the body of a skill version (its permissions included).
const skillBodyLimit = 256 << 10

// handleSkillVersionPut answers PUT /v1/service/skills/{name}/versions/{version}:
// 201 with the record when it is new, 200 with the stored record when the same
// digests were recorded before, 409 when other digests were.
func (s *Server) handleSkillVersionPut(w http.ResponseWriter, r *http.Request) {
	ref, err := skillPath(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	var v trust.SkillVersion
	if err := httpapi.ReadJSON(w, r, skillBodyLimit, &v); err != nil {
		s.error(w, r, err)
		return
	}
	if (v.Name != "" && v.Name != ref.Name) || (v.Version != "" && v.Version != ref.Version) {
		s.error(w, r, trust.Errorf(trust.EINVALID, "body names %s@%s, path names %s", v.Name, v.Version, ref))
		return
	}
	v.Name, v.Version = ref.Name, ref.Version

	status := http.StatusCreated
	if _, err := s.SkillVersionService.FindSkillVersion(r.Context(), ref); err == nil {
		status = http.StatusOK
	} else if trust.ErrorCode(err) != trust.ENOTFOUND {
		s.error(w, r, err)
		return
	}
	if err := s.SkillVersionService.CreateSkillVersion(r.Context(), &v); err != nil {
		s.error(w, r, err)
		return
	}
	httpapi.WriteJSON(w, status, &v)
}

// handleSkillVersionFind answers GET /v1/service/skills/{name}/versions/{version}.
func (s *Server) handleSkillVersionFind(w http.ResponseWriter, r *http.Request) {
	ref, err := skillPath(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	v, err := s.SkillVersionService.FindSkillVersion(r.Context(), ref)
	if err != nil {
		s.error(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, v)
}

// handleSkillVersionStateUpdate answers
// POST /v1/service/skills/{name}/versions/{version}/state with body {"state"}.
func (s *Server) handleSkillVersionStateUpdate(w http.ResponseWriter, r *http.Request) {
	ref, err := skillPath(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	var req edgeapi.StateRequest
	if err := httpapi.ReadJSON(w, r, smallBodyLimit, &req); err != nil {
		s.error(w, r, err)
		return
	}
	v, err := s.SkillVersionService.UpdateSkillVersionState(r.Context(), ref, req.State)
	if err != nil {
		s.error(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, v)
}

// skillPath reads {name} and {version} from the path.
func skillPath(r *http.Request) (trust.SkillRef, error) {
	ref := trust.SkillRef{Name: r.PathValue("name"), Version: r.PathValue("version")}
	if err := trust.ValidateSkillRef(ref.Name, ref.Version); err != nil {
		return trust.SkillRef{}, err
	}
	return ref, nil
}
